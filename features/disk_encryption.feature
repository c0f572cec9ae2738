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

  # Judged complete on every declared node, from two sources: the volume as the node reports it
  # (phase ready, opened through LUKS2, configured key types nodeID alone, unlocked by slot 0)
  # and the applied config that the next format and key sync follow (whichever of VolumeConfig
  # and the legacy machine.systemDiskEncryption declares it: provider luks2, exactly one key,
  # nodeID in slot 0). A node whose volumes or config were not read never lets it pass.
  # Ways it is broken: features/breakages/disk_encryption.yaml.
  @ENC-01 @severity:critical @remediation:destructive
  Scenario Outline: The <volume> volume is LUKS2-encrypted with the node key on every node
    Then <volume> is a LUKS2 volume keyed by nodeID in slot 0 on every node

    Examples:
      | volume    |
      | STATE     |
      | EPHEMERAL |
