@area:topology
Feature: The cluster is made of the nodes the inventory declares
  K8S-CLUSTER is six mini PCs, every one a control-plane node that also runs
  workloads. Each node the inventory names must have joined Kubernetes under
  its declared hostname and be Ready, carry the control-plane role without
  refusing workloads, run the declared Talos and Kubernetes versions, and
  offer the CPU and memory the inventory records for it. Nodes the inventory
  does not name are not judged.
  Upstream: https://kubernetes.io/docs/reference/node/node-status/ and
  https://docs.siderolabs.com/talos/v1.12/reference/configuration/v1alpha1/config

  Background:
    Given the observed cluster

  # Completeness each control promises (ways broken: features/breakages/topology.yaml):
  # TOP-01 judges the Ready condition of the Node of every declared node. TOP-02 judges every
  # declared node's labels, every taint with effect NoSchedule or NoExecute whatever its key or
  # who set it (readiness taints are TOP-01's), and its cordon. TOP-03 judges Talos on every
  # node, every kubelet and the API server. TOP-04 judges CPU and memory of every Node. A node
  # whose data was not read never lets a control pass.
  @TOP-01 @severity:blocker @remediation:manual
  Scenario: Every declared node is registered and Ready
    Then every declared node is a registered Kubernetes node that is Ready

  @TOP-02 @severity:critical @remediation:safe
  Scenario: Every control-plane node also accepts workloads
    Then every declared control-plane node has the control-plane role and accepts workloads

  @TOP-03 @severity:critical @remediation:disruptive
  Scenario: Talos and Kubernetes run the declared versions
    Then every node runs the declared Talos and Kubernetes versions

  @TOP-04 @severity:normal @remediation:manual
  Scenario: Each node offers the declared CPU and memory
    Then every node's CPU and memory capacity matches the inventory
