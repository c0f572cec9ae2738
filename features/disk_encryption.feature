@area:disk_encryption
Feature: The system volumes of every node are encrypted with the node's own key
  K8S-CLUSTER encrypts STATE (machine secrets and certificates) and EPHEMERAL
  (workload data) with LUKS2, keyed by nodeID in slot 0: a key derived from
  the node's identity, so there is no key to distribute or store. Talos
  encrypts a partition only while it is empty, so what counts is how each
  node reports the volume it opened, not the config it was given.
  Upstream: https://docs.siderolabs.com/talos/v1.12/configure-your-talos-cluster/storage-and-disk-management/disk-encryption

  Background:
    Given the observed cluster

  @ENC-01 @severity:critical @remediation:destructive
  Scenario Outline: The <volume> volume is LUKS2-encrypted with the node key on every node
    Then <volume> is a LUKS2 volume keyed by nodeID in slot 0 on every node

    Examples:
      | volume    |
      | STATE     |
      | EPHEMERAL |
