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

  @PSA-01 @severity:critical @remediation:safe
  Scenario: Every API server enforces the declared Pod Security level by default
    Then every control-plane node's admission configuration enforces the declared Pod Security level

  @PSA-02 @severity:critical @remediation:safe
  Scenario: Only the declared namespaces are exempt from Pod Security
    Then every control-plane node exempts exactly the declared namespaces from Pod Security

  @PSA-03 @severity:critical @remediation:safe
  Scenario: A privileged pod is refused in a regular namespace and admitted in the exempt ones
    When a privileged pod is submitted as a server-side dry run in namespace "default" and in every exempt namespace
    Then Pod Security rejects the privileged pod outside the exempt namespaces and admits it in them
