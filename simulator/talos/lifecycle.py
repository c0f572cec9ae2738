"""talosctl's machine operations as transitions of the simulated site.

Each public method of :class:`Lifecycle` is one Machine API call with the
semantics and messages of Talos v1.12.5 (``v1alpha1_server.go``,
``maintenance/server.go``; facts §4, §7): it checks what the real node
checks, in the same order, raises :class:`~simulator.talos.errors.TalosError`
with Talos's code and text, or changes the site and returns the messages
talosctl prints.  After every call the controllers' view is recomputed
(:func:`simulator.talos.convergence.converge`).  The etcd operations'
checks and state changes are in :mod:`simulator.talos.etcd_ops`, those of
wipe and reset on block devices in :mod:`simulator.talos.disk_ops`; the
methods here resolve the node, drive the stages and converge around them.

Stage changes go through one seam, :class:`Pacing`: with ``step_seconds=0``
(tests) a reboot passes through ``rebooting``/``booting`` to ``running`` in
the call; with a positive step (demos) each stage is entered one step later
and :meth:`Lifecycle.settle`, called with the clock's time, catches up.

Deviations: reset and upgrade report failures of their sequence (leaving
etcd, quorum) as the API error instead of through talosctl's ``--wait``
progress tracker; the single-member leave failure uses etcd's text for
removing the last voting member (facts open question 2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.state.machines import Machine, PendingStage, Site, Stage
from simulator.talos import convergence, disk_ops, errors, etcd_ops, images
from simulator.talos.configview import (
    ConfigError,
    Validator,
    config_diff,
    multierror,
    talos_validate,
)
from simulator.talos.errors import TalosError

MODES = ("auto", "no-reboot", "reboot", "staged", "try")
TRY_TIMEOUT_SECONDS = 60.0
_NO_V1ALPHA1 = (
    "the applied machine configuration doesn't contain v1alpha1 config, "
    "did you mean to patch the machine config instead?"
)
_DOWN = (Stage.POWERED_OFF, Stage.REBOOTING, Stage.SHUTTING_DOWN, Stage.RESETTING)
_SYSTEM_LABELS = ("STATE", "EPHEMERAL", "META")


@dataclass(frozen=True)
class Pacing:
    """How long each intermediate stage lasts; 0 makes transitions immediate."""

    step_seconds: float = 0.0


Snapshotter = Callable[[Path], None]  # the datastore's writer of a snapshot file


@dataclass(frozen=True)
class ResetOptions:
    """``talosctl reset`` flags that reach the server."""

    graceful: bool = True
    reboot: bool = False
    system_labels_to_wipe: tuple[str, ...] = ()


class Lifecycle:
    """Machine API operations over one :class:`Site` (load, call, save around it)."""

    def __init__(
        self,
        site: Site,
        *,
        clock: Callable[[], float] = lambda: 0.0,
        pacing: Pacing = Pacing(),
        validate: Validator = talos_validate,
    ) -> None:
        self.site = site
        self.clock = clock
        self.pacing = pacing
        self.validate = validate

    # -- reaching a node -------------------------------------------------

    def node(self, ip: str, *, insecure: bool = False) -> Machine:
        """The machine at *ip* if it would answer this kind of connection."""
        machine = self.site.machine_at(ip)
        if machine is None or machine.stage in _DOWN:
            raise errors.unavailable(ip)
        in_maintenance = machine.stage in (Stage.MAINTENANCE, Stage.INSTALLING)
        if in_maintenance and not insecure:
            raise errors.needs_insecure()
        if insecure and not in_maintenance:
            raise errors.not_in_maintenance()
        return machine

    def _configured(self, ip: str, *, insecure: bool) -> Machine:
        """A node for an admin-only API, which maintenance mode does not serve."""
        machine = self.node(ip, insecure=insecure)
        if machine.stage in (Stage.MAINTENANCE, Stage.INSTALLING):
            raise errors.not_in_maintenance_api()
        return machine

    # -- stage progression -------------------------------------------------

    def _run(self, machine: Machine, stages: Sequence[Stage]) -> None:
        """Move *machine* through *stages*, now or paced."""
        now = self.clock()
        machine.pending = []
        step = self.pacing.step_seconds
        if step <= 0:
            for stage in stages:
                redirect = self._enter(machine, stage)
                if redirect is not None:
                    self._enter(machine, redirect)
                    break
            return
        redirect = self._enter(machine, stages[0])
        rest = [redirect] if redirect is not None else list(stages[1:])
        machine.pending = [PendingStage(s.value, now + step * i) for i, s in enumerate(rest, 1)]

    def _enter(self, machine: Machine, stage: Stage) -> Stage | None:
        """Enter *stage*; return a stage to go to instead of the rest of the plan."""
        machine.stage = stage
        machine.generation += 1
        machine.changed_at = self.clock()
        if stage is Stage.INSTALLING:
            return self._install(machine)
        if stage is Stage.BOOTING:
            return self._boot(machine)
        if stage is Stage.POWERED_OFF:
            machine.etcd_stopped = False
        return None

    def _install(self, machine: Machine) -> Stage | None:
        view = convergence.view_of(machine)
        try:
            installer = images.resolve(self.site, view.install_image if view else "")
        except TalosError as exc:
            machine.last_error = exc.message
            machine.config = machine.persistent_config = None
            return Stage.MAINTENANCE
        machine.installed = True
        machine.image = installer.ref
        machine.schematic = installer.schematic
        machine.talos_version = installer.version
        machine.volumes = {}
        convergence.fresh_system_volumes(machine, view)
        machine.etcd_data = False
        return None

    def _boot(self, machine: Machine) -> Stage:
        machine.config = machine.persistent_config  # staged configs become active
        machine.try_revert_at = None
        machine.etcd_stopped = False
        view = convergence.view_of(machine)
        if not machine.installed or view is None:
            return Stage.MAINTENANCE
        address = convergence.current_address(view)
        if address is not None:
            machine.ip = address
        convergence.provision_system_volumes(machine, view)
        return Stage.RUNNING

    def settle(self) -> None:
        """Catch up on paced stages and try-mode rollbacks due by now."""
        now = self.clock()
        for machine in self.site.machines.values():
            if machine.try_revert_at is not None and machine.try_revert_at <= now:
                machine.config = machine.persistent_config
                machine.try_revert_at = None
                machine.generation += 1
            while machine.pending and machine.pending[0].due <= now:
                due = machine.pending.pop(0)
                redirect = self._enter(machine, Stage(due.stage))
                if redirect is not None:
                    machine.pending = [
                        PendingStage(redirect.value, due.due + self.pacing.step_seconds)
                    ]
        convergence.converge(self.site)

    def _done(self) -> None:
        convergence.converge(self.site)

    # -- apply-config ------------------------------------------------------

    def apply_config(
        self,
        ip: str,
        text: str,
        *,
        mode: str = "auto",
        insecure: bool = False,
        dry_run: bool = False,
    ) -> list[str]:
        """ApplyConfiguration; returns the lines talosctl prints."""
        if mode not in MODES:
            raise TalosError(
                "Unknown", f"incorrect mode '{mode}' specified for the apply config call"
            )
        machine = self.node(ip, insecure=insecure)
        if machine.stage in (Stage.MAINTENANCE, Stage.INSTALLING):
            return self._apply_maintenance(machine, text, mode, dry_run)
        try:
            new = convergence.parse_config(text)
            if new.v1alpha1 is None:
                raise TalosError("InvalidArgument", _NO_V1ALPHA1)
            problems = list(self.validate(new))
        except ConfigError as exc:
            raise TalosError("InvalidArgument", str(exc)) from None
        if problems:
            raise TalosError("InvalidArgument", multierror(problems))
        old = convergence.view_of(machine)
        blockers = old.immediate_blockers(new) if old is not None else ""
        immediate_error = (
            f"this config change can't be applied in immediate mode\ndiff:\n{blockers}"
        )
        if mode in ("no-reboot", "try") and blockers:
            raise TalosError("InvalidArgument", immediate_error)
        reboot = mode == "reboot" or (mode == "auto" and bool(blockers))
        details = {
            "staged": "Staged configuration to be applied after the next reboot",
        }.get(
            mode,
            "Applied configuration with a reboot"
            if reboot
            else "Applied configuration without a reboot",
        )
        if dry_run:
            diff = config_diff(machine.config or "", text) or "No changes."
            return [f"Dry run summary:\n{details} (skipped in dry-run).\nConfig diff:\n\n{diff}"]
        if mode == "auto" and blockers:
            details += ": " + immediate_error
        machine.generation += 1
        if mode == "staged":
            machine.persistent_config = text
        elif mode == "try":
            machine.config = text
            machine.try_revert_at = self.clock() + TRY_TIMEOUT_SECONDS
            details += (
                "\nThe config is applied in 'try' mode and will be automatically reverted back in "
                "1m0s"
            )
        else:
            machine.persistent_config = text
            if reboot:
                self._run(machine, (Stage.REBOOTING, Stage.BOOTING))
            else:
                machine.config = text
        if not reboot and mode != "staged":
            address = convergence.current_address(new)
            if address is not None:
                machine.ip = address
        self._done()
        return [details]

    def _apply_maintenance(
        self, machine: Machine, text: str, mode: str, dry_run: bool
    ) -> list[str]:
        if mode in ("no-reboot", "staged"):
            raise TalosError(
                "Unimplemented",
                f"apply configuration --mode='{mode}' is not supported in maintenance mode",
            )
        try:
            new = convergence.parse_config(text)
            problems = list(self.validate(new))
        except ConfigError as exc:
            raise TalosError("Unknown", f"failed to parse config: {exc}") from None
        if problems:
            raise TalosError(
                "InvalidArgument", f"configuration validation failed: {multierror(problems)}"
            )
        if dry_run:
            return [
                "Dry run summary:\n"
                "Node is running in maintenance mode and does not have a config yet."
            ]
        machine.config = machine.persistent_config = text
        machine.last_error = ""
        if machine.installed:
            self._run(machine, (Stage.BOOTING,))
        else:
            self._run(machine, (Stage.INSTALLING, Stage.REBOOTING, Stage.BOOTING))
        self._done()
        return []

    # -- power -------------------------------------------------------------

    def reboot(self, ip: str) -> list[str]:
        machine = self._configured(ip, insecure=False)
        self._run(machine, (Stage.REBOOTING, Stage.BOOTING))
        self._done()
        return []

    def shutdown(self, ip: str) -> list[str]:
        machine = self._configured(ip, insecure=False)
        self._run(machine, (Stage.SHUTTING_DOWN, Stage.POWERED_OFF))
        self._done()
        return []

    def power_on(self, name: str) -> None:
        """The BMC's power button (not a Talos API): boot a powered-off machine."""
        machine = self.site.machines[name]
        if machine.stage is Stage.POWERED_OFF:
            self._run(machine, (Stage.BOOTING,))
        self._done()

    def readdress(self, addresses: dict[str, str]) -> None:
        """Site event: machines get new addresses *at the same time* (re-IP, DHCP)."""
        for name, ip in addresses.items():
            self.site.machines[name].ip = ip
        self._done()

    # -- reset / upgrade / wipe -----------------------------------------------

    def reset(self, ip: str, options: ResetOptions, *, insecure: bool = False) -> list[str]:
        machine = self._configured(ip, insecure=insecure)
        disk_ops.check_reset_labels(machine, options.system_labels_to_wipe)
        view = convergence.view_of(machine)
        member = self.site.member_of(machine.name)
        if options.graceful and view is not None and view.is_control_plane and member is not None:
            etcd_ops.leave(self.site, machine, member.id)
        self._run(machine, (Stage.RESETTING,))
        disk_ops.reset_volumes(machine, options.system_labels_to_wipe)
        self._run(
            machine, (Stage.REBOOTING, Stage.BOOTING) if options.reboot else (Stage.POWERED_OFF,)
        )
        self._done()
        return []

    def upgrade(self, ip: str, image: str, *, force: bool = False) -> list[str]:
        machine = self._configured(ip, insecure=False)
        installer = images.resolve(self.site, image)
        view = convergence.view_of(machine)
        if not force and view is not None and view.is_control_plane:
            etcd_ops.check_upgrade(self.site)
        machine.image = installer.ref
        machine.schematic = installer.schematic
        machine.talos_version = installer.version
        self._run(machine, (Stage.UPGRADING, Stage.REBOOTING, Stage.BOOTING))
        self._done()
        return []

    def wipe_disk(self, ip: str, devices: Sequence[str], *, insecure: bool = False) -> list[str]:
        """``talosctl wipe disk``: storaged checks, then the signatures are gone."""
        machine = self.node(ip, insecure=insecure)
        for name in devices:
            disk_ops.wipe_device(machine, name)
        self._done()
        return []

    # -- etcd (the rules themselves are in simulator.talos.etcd_ops) ----------

    def bootstrap(self, ip: str) -> list[str]:
        machine = self._configured(ip, insecure=False)
        etcd_ops.bootstrap(self.site, machine)
        self._done()
        return []

    def _control_plane(self, ip: str, api: str) -> Machine:
        machine = self._configured(ip, insecure=False)
        view = convergence.view_of(machine)
        if view is None or not view.is_control_plane:
            raise errors.control_plane_only(api)
        return machine

    def etcd_members(self, ip: str) -> list[etcd_ops.MemberRow]:
        """MemberList as the node sees it: (id, name, peer URLs, client URLs, learner)."""
        return etcd_ops.members(self.site, self._control_plane(ip, "member list"))

    def etcd_alarms(self, ip: str) -> list[tuple[int, str]]:
        """AlarmList as the node's etcd answers it: (member ID, alarm type)."""
        return etcd_ops.alarms(self.site, self._control_plane(ip, "etcd alarm list"))

    def etcd_alarm_disarm(self, ip: str) -> list[tuple[int, str]]:
        """Disarm every alarm through the node's etcd: the ones that were active."""
        disarmed = etcd_ops.disarm(self.site, self._control_plane(ip, "etcd alarm disarm"))
        self._done()
        return disarmed

    def etcd_status(self, ip: str) -> dict[str, Any]:
        """The local member's status as the node's etcd reports it (``etcd status``)."""
        return etcd_ops.status(self.site, self._control_plane(ip, "etcd status"))

    def etcd_leave(self, ip: str) -> list[str]:
        machine = self._control_plane(ip, "etcd leave")
        member = self.site.member_of(machine.name)
        if member is not None:
            etcd_ops.leave(self.site, machine, member.id)
        self._done()
        return []

    def etcd_remove_member(self, ip: str, member_id: int) -> list[str]:
        self._control_plane(ip, "etcd remove member")
        etcd_ops.remove_member(self.site, member_id)
        self._done()
        return []

    def etcd_snapshot(self, ip: str, take: Snapshotter, path: Path) -> None:
        """Stream a snapshot from the node: the server's datastore writes it."""
        etcd_ops.check_snapshot(self.site, self._control_plane(ip, "etcd snapshot"))
        take(path)
