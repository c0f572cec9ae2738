@area:pod_security
Feature: Pod Security baseline is enforced outside the declared exemptions
  The reference cluster enforces the Pod Security "baseline" profile
  cluster-wide through the API server's PodSecurity admission configuration,
  which Talos builds from every control-plane node's machine config; only the
  declared namespaces (the system and storage components that need privileged
  pods) are exempt. A privileged pod must be refused everywhere else.
  Upstream: https://docs.siderolabs.com/kubernetes-guides/security/pod-security
  and https://kubernetes.io/docs/concepts/security/pod-security-admission/

  Background:
    Given the observed cluster

  # PSA-01/02/03 -- ways privileged pods get past PodSecurity outside the declared exemptions
  # (pod-security-admission: the namespace labels override the config defaults per mode; an
  # exemption by namespace, requesting username or runtimeClass skips the check entirely; a
  # version pin runs only that release's checks). Each is listed with its drift in
  # features/breakages/pod_security.yaml:
  #   - the PodSecurity entry removed from cluster.apiServer.admissionControl, or the plugin
  #     switched off with extraArgs disable-admission-plugins, or extraArgs
  #     admission-control-config-file pointing away from the file Talos writes, on any node
  #     (PSA-01 per node, PSA-03 by behaviour on the serving API server);
  #   - defaults.enforce lowered, or omitted (omitted means privileged), on any node (PSA-01);
  #   - defaults.enforce-version pinned to a release (anything but latest) on any node (PSA-01);
  #   - a pod-security.kubernetes.io/enforce label looser than the declared level, or an
  #     enforce-version label pinning a release, on any namespace not declared exempt,
  #     existing or newly created (PSA-01 judges every namespace's labels; PSA-03's probe runs
  #     in every namespace the API server lists); an unparsable level means restricted;
  #   - exemptions.namespaces, exemptions.usernames or exemptions.runtimeClasses differing
  #     from the declared ones on any node (PSA-02; only namespaces are declared; PSA-03 shows an
  #     extra exempt namespace by behaviour).
  # Completeness promised: every control-plane node's config and every namespace's labels are
  # judged, and the behaviour of the serving API server in every namespace. Not judged: the
  # admission config of an API server run outside Talos, and admission webhooks.
  @PSA-01 @severity:critical @remediation:safe
  Scenario: Every API server enforces the declared Pod Security level by default
    Then every control-plane node's admission configuration enforces the declared Pod Security level

  @PSA-02 @severity:critical @remediation:safe
  Scenario: Only the declared namespaces are exempt from Pod Security
    Then every control-plane node exempts exactly the declared namespaces from Pod Security

  @PSA-03 @severity:critical @remediation:safe
  Scenario: A privileged pod is refused in every regular namespace and admitted in the exempt ones
    When a privileged pod is submitted as a server-side dry run in every namespace
    Then Pod Security rejects the privileged pod outside the exempt namespaces and admits it in them
