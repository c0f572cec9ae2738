@area:seccomp
Feature: Containers run under the runtime's default seccomp profile
  K8S-CLUSTER enforces RuntimeDefault seccomp through the kubelet: a container
  that names no seccomp profile gets the container runtime's default instead
  of running unconfined. Talos sets the kubelet's seccompDefault from
  machine.kubelet.defaultRuntimeSeccompProfileEnabled; only the kubelet's
  running configuration shows that it took effect.
  Upstream: https://kubernetes.io/docs/tutorials/security/seccomp/

  Background:
    Given the observed cluster

  @SEC-01 @severity:critical @remediation:safe
  Scenario: Every kubelet defaults containers to the RuntimeDefault seccomp profile
    Then every node's running kubelet configuration has seccompDefault enabled
