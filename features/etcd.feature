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

  # Judged complete over the member list one control-plane node answers (etcd's own view, which
  # needs quorum): every declared control-plane node must have exactly one member named after
  # its hostname, that member a voter (no learner), and no member may belong to no declared node
  # (a stale member counts against quorum). A list that cannot be read is a failure naming
  # etcd's reason when a Talos API answered. Healthy also means no active alarm (talosctl etcd
  # alarm list on the same node): with NOSPACE etcd serves reads only, every write fails, until
  # space is freed and the alarm disarmed; alarms that cannot be read leave a right membership
  # unobservable. Ways it is broken: features/breakages/etcd.yaml.
  @ETCD-01 @severity:blocker @remediation:manual
  Scenario: etcd answers with one voting member per control-plane node
    Then etcd lists exactly one voting member for each declared control-plane node

  # Judged complete over every peer URL of every member named after a declared control-plane
  # node: each must be on an address the node has now (its AddressStatuses, the VIP excluded),
  # or on its declared address when those were not read. With no such member nothing was
  # judged, and the control is not passed.
  @ETCD-02 @severity:critical @remediation:destructive
  Scenario: Every etcd member advertises its node's current address
    Then every etcd member's peer URLs point at its node's current address
