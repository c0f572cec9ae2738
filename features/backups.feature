@area:backups
Feature: etcd is backed up daily, encrypted, pruned and restorable
  The management host takes an etcd snapshot of K8S-CLUSTER every day at
  02:00, encrypts it with age to a recipient whose identity stays off the
  cluster and out of git, and keeps each etcd-<UTC timestamp>.snapshot.age
  file for the declared retention. Ages go by the timestamp in the file name.
  Upstream: https://docs.siderolabs.com/talos/v1.12/build-and-extend-talos/cluster-operations-and-maintenance/disaster-recovery

  Background:
    Given the observed cluster

  # BAK-01 -- the newest file named etcd-<UTC timestamp>.snapshot.age is younger than 26 h,
  # judged by the name's timestamp, never by mtime; a name dated in the future is a finding
  # and does not count as that backup. Ways: the job stopped; a file dated ahead (a clock
  # ahead, a renamed copy) posing as the newest.
  @BAK-01 @severity:critical @remediation:safe
  Scenario: The newest etcd backup is less than 26 hours old
    Then the newest etcd backup was taken less than 26 hours ago

  # BAK-02 -- ways a plaintext etcd snapshot ends up beside the backups, all judged by content
  # (the first bytes of every file must be the age header "age-encryption.org/v1"):
  #   - a backup job that skipped encryption: etcd-<ts>.snapshot.age holding a bbolt file
  #     (then the newest backup itself is plaintext);
  #   - a decrypted copy left behind (etcd-<ts>.snapshot, etcd.db);
  #   - talosctl etcd snapshot's own <path>.part left by an interrupted stream;
  #   - a snapshot taken by hand under any name (talosctl etcd snapshot <dir>/before-upgrade);
  #   - any other unencrypted file: the backup job writes nothing but age files there.
  # Not covered: plaintext inside subdirectories (the job's own .backup-* working directories
  # are swept by the next backup run). File modes are deliberately not judged: an age file is
  # encrypted to the recipient (https://age-encryption.org/v1), so a mode 0644 .age file tells
  # a reader nothing without the identity, and a plaintext is a finding above whatever its
  # mode. Who can write the directory is an availability matter (a deleted or replaced file
  # fails BAK-01 or BAK-04), not one of secrecy.
  @BAK-02 @severity:critical @remediation:manual
  Scenario: The newest etcd backup is encrypted and no plaintext snapshot lies beside it
    Then the newest etcd backup is an age file and the backup directory holds no plaintext snapshot

  # BAK-03 -- no dated backup but the newest is older than backup.retentionDays, and no
  # backup-named file lacks the timestamp the prune goes by. Ways: the prune not running.
  # Not covered: a prune too eager (fewer backups than the retention should keep) -- the
  # cluster's age bounds how many there can be, which the backup directory does not show.
  @BAK-03 @severity:normal @remediation:safe
  Scenario: No etcd backup is kept longer than the declared retention
    Then no etcd backup is older than the declared retention

  # BAK-04 -- the newest backup decrypts with the configured identity and is an etcd snapshot
  # (etcdutl snapshot status: bbolt integrity) with a plausible key count; without an identity
  # it is not verified. Ways: encrypted to another recipient; cut short; an encrypted error
  # message instead of a snapshot. Not covered: file permissions (see BAK-02), and whether a
  # snapshot is the cluster's own -- age does not authenticate the sender, so a writer of the
  # directory could encrypt another etcd snapshot to the public recipient.
  @BAK-04 @severity:critical @remediation:manual
  Scenario: The newest etcd backup restores to an etcd snapshot of the cluster
    Then the newest etcd backup decrypts to an etcd snapshot with a plausible number of keys
