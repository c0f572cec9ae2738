@area:config_hygiene
Feature: The cluster definition is safe to apply
  The operator keeps K8S-CLUSTER's definition in git: a base controlplane.yaml,
  per-node patches and feature patches, stacked by talosctl apply-config.
  Before any node is touched, what that definition renders to must be a config
  Talos v1.12 accepts, built from the declared Image Factory schematic, with
  the secrets kept out of git. Once applied, every node must run under the
  hostname it was given, run exactly the config its definition renders (no
  hand edit, dropped patch or extra setting), and the operator's kubeconfig
  must stay usable.
  Upstream: https://docs.siderolabs.com/talos/v1.12/configure-your-talos-cluster/system-configuration/patching

  Background:
    Given the cluster definition

  # Completeness each control promises (ways broken: features/breakages/config_hygiene.yaml):
  # HYG-01 renders every node's full stack (base, node patch, feature patches) and validates it
  # as Talos v1.12 would. HYG-02 reads every file of the definition that git tracks (every file
  # when it is not a checkout) by content, whatever its name: PEM and base64-PEM keys, age
  # identities, bootstrap and trustd tokens, long secret fields in any case, LUKS passphrases,
  # WireGuard keys. HYG-03 and HYG-04 judge every node's rendered config, the installer image
  # and both hostname sources.
  @HYG-01 @severity:critical @remediation:manual
  Scenario: Every node's rendered config is accepted by Talos
    Then every node's rendered machine config is valid

  @HYG-02 @severity:blocker @remediation:manual
  Scenario: The committed definition holds no secrets
    Then no file of the definition in git holds secret material

  @HYG-03 @severity:normal @remediation:manual
  Scenario: Every node installs from the declared schematic
    Then every node's installer image is the one built from the declared schematic

  @HYG-04 @severity:normal @remediation:manual
  Scenario: Each node's hostname is set in one place only
    Then no node sets its hostname both in a HostnameConfig and in the machine config

  # Once the cluster runs, what Talos applied is what counts.
  # HYG-05 judges every declared node's HostnameStatus; HYG-06 the kubeconfig's client
  # certificate, by the API server's answer and by its validity period.

  @HYG-05 @severity:normal @remediation:safe
  Scenario: Every node runs under its declared hostname
    Given the observed cluster
    Then every node's running hostname is the one the inventory declares

  @HYG-06 @severity:critical @remediation:safe
  Scenario: The operator's kubeconfig is accepted and far from expiry
    Given the observed cluster
    Then the kubeconfig's client certificate is accepted and valid for at least 30 more days

  @HYG-07 @severity:normal @remediation:disruptive
  Scenario: Every node runs the config rendered from the definition
    Given the observed cluster
    Then every node runs the config rendered from the definition
