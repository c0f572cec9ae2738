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

  # LH-01 -- every node that can host Longhorn volumes (storage nodes and workers, whose pods
  # attach volumes over iSCSI) runs iscsi-tools and util-linux-tools, judged by the
  # ExtensionStatus each node reports, whatever its installer or schematic says; the
  # definition's schematic must declare both. Ways: a node upgraded to an installer whose
  # schematic lacks either extension, on a storage node or on a worker.
  @LH-01 @severity:critical @remediation:disruptive
  Scenario: Every node that can host Longhorn volumes runs the storage extensions
    Then every node that can host Longhorn volumes runs the declared system extensions

  # LH-02 -- on every storage node: a mount at the data path (MountStatus), the kubelet
  # extraMount binding it rshared, and Longhorn's MountPropagation condition. Ways: the
  # machine.disks entry dropped (nothing mounted), the kubelet bind dropped or not rshared.
  @LH-02 @severity:critical @remediation:manual
  Scenario: The Longhorn data path is mounted on every storage node
    Then the Longhorn data path is a ready volume bind-mounted into the kubelet on every storage node

  # LH-03 -- every storage node's Longhorn Node is Ready, Schedulable, allows scheduling and
  # has no eviction requested, with a Ready, schedulable disk at the data path and no eviction
  # requested on it; no other node offers a schedulable disk. Ways: scheduling disabled on a
  # node or its disk, eviction requested on either, the disk gone or not Ready.
  @LH-03 @severity:critical @remediation:manual
  Scenario: Every storage node is a schedulable Longhorn node with its disk
    Then every storage node is a schedulable Longhorn node with a schedulable disk at the data path

  # LH-04 -- every place that sets a replica count says the declared one: the
  # default-replica-count Setting (and the defaults ConfigMap the manager re-applies to it),
  # every StorageClass of provisioner driver.longhorn.io (not only the chart's class), and
  # each Volume's own numberOfReplicas. Ways: helm --set defaultSettings.defaultReplicaCount
  # or persistence.defaultClassReplicaCount; another Longhorn class applied with kubectl with
  # fewer replicas (manual: class parameters are immutable); a volume patched or created
  # from such a class.
  @LH-04 @severity:critical @remediation:safe
  Scenario: The declared replica count applies everywhere
    Then the default replica setting, the Longhorn storage class and every volume ask for the declared replica count

  # LH-05 -- exactly one StorageClass carries the default annotation (GA or beta form), and it
  # is the Longhorn class of provisioner driver.longhorn.io. Ways: the annotation removed
  # (persistence.defaultClass false), another class marked default by either annotation.
  @LH-05 @severity:normal @remediation:safe
  Scenario: The Longhorn storage class is the one and only default class
    Then the Longhorn storage class is the only default storage class

  # LH-06 -- every existing Longhorn volume, and the volume a new claim on the default class
  # gets, has the declared number of healthy replicas on distinct nodes (never faulted;
  # healthy while attached). The probe keeps a cluster without volumes from passing by having
  # none, and shows what the next volume gets. Ways: a volume created from a class asking for
  # fewer replicas, or patched to fewer; fewer schedulable storage nodes than replicas (hard
  # anti-affinity leaves new volumes short; with replica-soft-anti-affinity on, their
  # replicas share a node); replicas failed on a node that is down.
  @LH-06 @severity:critical @remediation:safe
  Scenario: Every volume has the declared number of healthy replicas on distinct nodes
    When a labelled test claim is created on the default storage class and deleted again
    Then every Longhorn volume and the test claim's volume have the declared number of healthy replicas on distinct nodes

  # LH-07 -- the longhorn-manager DaemonSet and each of its pods run the declared version from
  # the declared repository (longhornio/longhorn-manager), and the manager's
  # current-longhorn-version Setting agrees. Ways: the release rolled back; the manager image
  # set to another tag or a look-alike repository with kubectl.
  @LH-07 @severity:normal @remediation:disruptive
  Scenario: Longhorn runs the declared version
    Then the Longhorn manager runs the declared Longhorn version
