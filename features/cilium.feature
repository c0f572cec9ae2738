@area:cilium
Feature: Cilium is the cluster's network and its kube-proxy
  K8S-CLUSTER boots Talos with no CNI and no kube-proxy and installs Cilium
  with Helm after bootstrap: Cilium provides pod networking on every node,
  replaces kube-proxy in eBPF, announces LoadBalancer IPs over L2, exports
  flows to Hubble and reaches the API server through KubePrism. The expected
  values are the definition's: the cilium Helm release and its values file,
  the declared Cilium version and the KubePrism port.
  Upstream: https://docs.siderolabs.com/kubernetes-guides/cni/deploying-cilium
  and https://docs.cilium.io/en/v1.19/network/kubernetes/kubeproxy-free/

  Background:
    Given the observed cluster

  # CIL-01 -- every declared node's applied machine config: cluster.network.cni.name none and
  # cluster.proxy.disabled true. Ways: a node's config re-enabling kube-proxy or naming a CNI.
  @CIL-01 @severity:critical @remediation:safe
  Scenario: Every node leaves pod networking and Service proxying to Cilium
    Then every node's machine config installs no CNI and disables kube-proxy

  # CIL-02 -- ways kube-proxy can run beside Cilium's kube-proxy replacement, all judged by what
  # runs (a container whose image repository is kube-proxy, any registry, tag or digest, or
  # whose command runs kube-proxy), in every namespace:
  #   - Talos deploys the kube-proxy DaemonSet (cluster.proxy.disabled false on any node);
  #   - a DaemonSet or Deployment of any name or label applied with kubectl;
  #   - pods of any other controller (StatefulSet, ReplicaSet, Job) or bare pods (kubectl run);
  #   - a static pod (a node's machine.pods), seen as its mirror pod <name>-<node>.
  # The fix deletes the DaemonSet, Deployment or bare pod; other owners and static pods are
  # manual, with the command.
  @CIL-02 @severity:critical @remediation:safe
  Scenario: No kube-proxy runs in the cluster
    Then no kube-proxy DaemonSet or pod exists in any namespace

  # CIL-03 -- every declared node and every registered Node has a Ready agent pod
  # (k8s-app=cilium in the release namespace); a declared node that never registered counts.
  # Ways: an agent crash-looping on a node (its pod is deleted, the DaemonSet starts a fresh
  # one); the agent DaemonSet deleted, its pods garbage-collected, so no node has an agent (the
  # fix is helm upgrade). An agent kept off a node by its selector fails the same judgement.
  @CIL-03 @severity:critical @remediation:disruptive
  Scenario: The Cilium agent is ready on every node
    Then every Kubernetes node runs a Ready Cilium agent

  # CIL-04 -- what the agents run with, against the values file (chart defaults for keys it
  # leaves out): cilium-config's kube-proxy-replacement, enable-l2-announcements and
  # enable-hubble; KUBERNETES_SERVICE_HOST/PORT of agent and operator on KubePrism; Hubble
  # relay and UI running and Ready when enabled; the definition's L2 announcement policy and LB
  # IP pool present, with their declared spec, not disabled. Ways: the ConfigMap edited or a
  # helm upgrade --set (KPR off, L2 off, Hubble off); the API address set to the VIP; relay
  # scaled to zero; the pool or the policy deleted or changed.
  @CIL-04 @severity:critical @remediation:disruptive
  Scenario: Cilium runs with kube-proxy replacement, L2 announcements and Hubble as declared
    Then the running Cilium configuration is as declared and reaches the API through KubePrism

  # CIL-05 -- the operator Deployment has the declared replicas, all Ready. Ways: scaled
  # down; deleted (absent). Its pods not Ready fail the same judgement. Fixed by helm upgrade.
  @CIL-05 @severity:normal @remediation:disruptive
  Scenario: The Cilium operator runs the declared number of ready replicas
    Then the Cilium operator has the declared number of Ready replicas

  # CIL-06 -- every container of the agent DaemonSet, operator Deployment and (when enabled)
  # Hubble relay runs the declared version's tag from the declared repository (values
  # image.repository, chart default quay.io/cilium/...; the operator's with its IPAM suffix).
  # Ways: the release downgraded; an image set to a look-alike repository with the right tag.
  @CIL-06 @severity:normal @remediation:disruptive
  Scenario: Cilium runs the declared version
    Then the Cilium agent and operator images carry the declared Cilium version
