@area:longhorn
Feature: Longhorn keeps the declared number of copies of every volume on the storage nodes
  K8S-CLUSTER stores its persistent volumes with Longhorn 1.8.1: the storage
  nodes each mount an SSD at the Longhorn data path and share it with the
  kubelet, every node runs the iscsi-tools and util-linux-tools system
  extensions, and every volume keeps the declared number of replicas on
  distinct nodes through the cluster's only default StorageClass.
  Upstream: https://longhorn.io/docs/1.8.1/advanced-resources/os-distro-specific/talos-linux-support/

  Background:
    Given the observed cluster

  @LH-01 @severity:critical @remediation:disruptive
  Scenario: Every node that can host Longhorn volumes runs the storage extensions
    Then every node that can host Longhorn volumes runs the declared system extensions

  @LH-02 @severity:critical @remediation:manual
  Scenario: The Longhorn data path is mounted on every storage node
    Then the Longhorn data path is a ready volume bind-mounted into the kubelet on every storage node

  @LH-03 @severity:critical @remediation:manual
  Scenario: Every storage node is a schedulable Longhorn node with its disk
    Then every storage node is a schedulable Longhorn node with a schedulable disk at the data path

  @LH-04 @severity:critical @remediation:safe
  Scenario: The declared replica count applies everywhere
    Then the default replica setting, the Longhorn storage class and every volume ask for the declared replica count

  @LH-05 @severity:normal @remediation:safe
  Scenario: The Longhorn storage class is the one and only default class
    Then the Longhorn storage class is the only default storage class

  @LH-06 @severity:critical @remediation:safe
  Scenario: Every volume has the declared number of healthy replicas on distinct nodes
    A cluster without Longhorn volumes holds this property trivially: there is
    no volume to be short of replicas.

    Then every Longhorn volume has the declared number of healthy replicas on distinct nodes

  @LH-07 @severity:normal @remediation:disruptive
  Scenario: Longhorn runs the declared version
    Then the Longhorn manager runs the declared Longhorn version
