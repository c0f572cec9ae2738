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
  # direction is default deny for an endpoint once a selecting rule has a rule for it; allow
  # rules of every policy selecting the endpoint are unioned):
  #   - no policy in the namespace, or default-deny deleted;
  #   - default-deny emptied (ingress: [] is a no-op), given a partial endpointSelector,
  #     enableDefaultDeny false, or marked not Valid by Cilium;
  #   - any CiliumNetworkPolicy in the namespace allowing the entity all on every port;
  #   - any CiliumClusterwideNetworkPolicy selecting every endpoint of the namespace (an empty
  #     selector, or one over the namespace name or namespace labels) allowing the entity all.
  # A clusterwide allow is left to a person ([manual] with the kubectl delete command): it may
  # carry allows others rely on. Not covered: allows narrower than the entity all.
  @NP-01 @severity:critical @remediation:safe
  Scenario: Every workload namespace denies ingress and egress by default
    Then every non-system namespace denies ingress and egress by default
