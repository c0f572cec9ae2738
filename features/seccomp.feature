@area:seccomp
Feature: Containers run under the runtime's default seccomp profile
  K8S-CLUSTER enforces RuntimeDefault seccomp through the kubelet: a container
  that names no seccomp profile gets the container runtime's default instead
  of running unconfined. Talos sets the kubelet's seccompDefault from
  machine.kubelet.defaultRuntimeSeccompProfileEnabled; only the kubelet's
  running configuration shows that it took effect.
  Upstream: https://kubernetes.io/docs/tutorials/security/seccomp/

  Background:
    Given the observed cluster

  # SEC-01 -- ways a kubelet stops defaulting containers to RuntimeDefault (KubeletConfiguration
  # seccompDefault is a pointer defaulting to false; Talos sets it from
  # machine.kubelet.defaultRuntimeSeccompProfileEnabled and refuses it in extraConfig). Each is
  # listed with its drift in features/breakages/seccomp.yaml:
  #   - defaultRuntimeSeccompProfileEnabled set to false on any node;
  #   - defaultRuntimeSeccompProfileEnabled removed from any node's config (false applies).
  # Completeness promised: every inventory node's running kubelet configuration (configz); a
  # kubelet not read never lets the control pass.
  @SEC-01 @severity:critical @remediation:safe
  Scenario: Every kubelet defaults containers to the RuntimeDefault seccomp profile
    Then every node's running kubelet configuration has seccompDefault enabled

  # SEC-02 -- ways a container runs unconfined although the kubelets default to RuntimeDefault
  # (the kubelet's own order: a privileged container is always unconfined; else the container's
  # seccompProfile, else the pod's; the pre-1.19 annotations say the same). PodSecurity baseline
  # refuses them at admission, so they get in through a namespace labelled privileged, an
  # exempt user or runtime class, or a pod admitted before enforcement. Each is listed with its
  # drift in features/breakages/seccomp.yaml:
  #   - a pod's or a container's securityContext.seccompProfile.type Unconfined;
  #   - a privileged container;
  #   - the annotation seccomp.security.alpha.kubernetes.io/pod (or the container one) unconfined.
  # Completeness promised: every container of every pod not finished, in every namespace except
  # the declared PodSecurity exemptions. The fix is left to a person ([manual]): the pod's owner
  # must change its spec.
  @SEC-02 @severity:critical @remediation:manual
  Scenario: No container outside the exempt namespaces runs without a seccomp filter
    Then no container of a pod outside the PodSecurity-exempt namespaces runs unconfined
