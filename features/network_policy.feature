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

  @NP-01 @severity:critical @remediation:safe
  Scenario: Every workload namespace denies ingress and egress by default
    Then every non-system namespace denies ingress and egress by default
