@area:etcd
Feature: etcd runs one healthy member per control-plane node
  Every K8S-CLUSTER node is a control-plane node running an etcd member, named
  after the node, that advertises the node's address to its peers. A member
  list that cannot be read means etcd has lost quorum. Talos rewrites a
  member's peer URL after an IP change only while etcd has quorum: when most
  control-plane nodes change address at once, the members keep dialling the
  old addresses and etcd cannot recover by itself.
  Upstream: https://docs.siderolabs.com/talos/v1.12/build-and-extend-talos/cluster-operations-and-maintenance/etcd-maintenance
  and https://github.com/siderolabs/talos/issues/9075

  Background:
    Given the observed cluster

  @ETCD-01 @severity:blocker @remediation:manual
  Scenario: etcd answers with one voting member per control-plane node
    Then etcd lists exactly one voting member for each declared control-plane node

  @ETCD-02 @severity:critical @remediation:destructive
  Scenario: Every etcd member advertises its node's current address
    Then every etcd member's peer URLs point at its node's current address
