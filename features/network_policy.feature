@area:network_policy
Feature: Workload namespaces deny traffic by default
  Cilium lets a pod talk to anything until a policy selects it. K8S-CLUSTER
  therefore gives every namespace except the declared system namespaces a
  CiliumNetworkPolicy selecting all its endpoints with one empty ingress and
  one empty egress rule, so only traffic another policy allows gets through.
  An empty rule list (`ingress: []`) is a no-op in Cilium, not a deny.
  Upstream: https://docs.cilium.io/en/v1.19/security/policy/language/

  Background:
    Given the observed cluster

  # NP-01 -- ways a namespace's default deny is missing or undone (Cilium 1.19 semantics: a
  # direction is default deny for an endpoint once a selecting rule has a rule for it or
  # enableDefaultDeny says so; allow rules of every policy selecting the endpoint are unioned,
  # Kubernetes NetworkPolicies included). Each is listed with its drift in
  # features/breakages/network_policy.yaml:
  #   - no policy in the namespace (a namespace created without one), or default-deny deleted;
  #   - default-deny emptied (ingress: [] is a no-op), given a partial endpointSelector,
  #     enableDefaultDeny false, or marked not Valid by Cilium;
  #   - any CiliumNetworkPolicy in the namespace, or any Kubernetes NetworkPolicy selecting every
  #     pod, allowing every peer on every port;
  #   - any CiliumClusterwideNetworkPolicy selecting every endpoint of the namespace (an empty
  #     selector, or one over the namespace name or namespace labels) allowing the entity all;
  #   - Cilium's policy enforcement switched off cluster-wide in cilium-config
  #     (enable-policy: never, or policy-audit-mode: true).
  # Completeness promised: every namespace but the declared system ones, every policy of the
  # three kinds that selects it, and the agent configuration. Allows of other policies are left
  # to a person ([manual] with the kubectl delete or helm command): they may carry allows others
  # rely on. Not covered: allows narrower than every peer (by design: that is traffic another
  # policy allows), allows selecting only some endpoints, and per-endpoint audit mode set
  # through the cilium CLI (not visible in the Kubernetes API).
  @NP-01 @severity:critical @remediation:safe
  Scenario: Every workload namespace denies ingress and egress by default
    Then every non-system namespace denies ingress and egress by default
