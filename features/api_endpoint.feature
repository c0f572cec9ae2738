@area:api_endpoint
Feature: The Kubernetes API is reached through the shared virtual IP
  Clients and nodes reach the API at the control-plane endpoint, a virtual IP
  that Talos moves between control-plane nodes through an etcd election, so
  losing any one node does not lose the API. Every control-plane node must
  campaign for the VIP, exactly one healthy node must hold it, every node must
  name it as the control-plane endpoint, the API must answer promptly, and
  KubePrism must give every node a local, healthy path to the API.
  Upstream: https://docs.siderolabs.com/talos/v1.12/networking/advanced/vip and
  https://docs.siderolabs.com/talos/v1.12/kubernetes-guides/advanced-guides/kubeprism

  Background:
    Given the observed cluster

  # Completeness each control promises (ways broken: features/breakages/api_endpoint.yaml):
  # API-01 judges every control-plane node's applied config, every VIP source (interfaces[].vip,
  # vlans[].vip, Layer2VIPConfig), and the VIP's link against the link of the node's own
  # address where its addresses were read. API-02 judges every node's AddressStatuses; a node
  # unread leaves it unobserved unless what was read fails it. API-03 judges every node's
  # cluster.controlPlane.endpoint, the kubeconfig's server and the API's answer time. API-04
  # judges every node's KubePrismStatus (address, port, health). API-05 dials the VIP.
  @API-01 @severity:critical @remediation:safe
  Scenario: Every control-plane node is configured to hold the virtual IP
    Then every control-plane node's config carries the declared virtual IP

  @API-02 @severity:blocker @remediation:manual
  Scenario: Exactly one healthy control-plane node holds the virtual IP
    Then the declared virtual IP is held by exactly one Ready control-plane node

  @API-03 @severity:blocker @remediation:manual
  Scenario: The control-plane endpoint is the virtual IP and the API answers promptly
    Then every node names the declared endpoint and the API answers within 2 seconds

  @API-04 @severity:critical @remediation:safe
  Scenario: KubePrism serves the API locally on every node
    Then KubePrism is healthy on the declared port on every node

  @API-05 @severity:critical @remediation:manual
  Scenario: The API answers on the virtual IP with a certificate valid for it
    When the API is dialled on the declared virtual IP
    Then the API on the virtual IP presents a certificate from the cluster CA valid for it
