import type { SandboxLayout } from './layout.js';

/**
 * libvirtd.conf of the sandbox. Sockets stay at libvirt's default `/run/libvirt`, which inside the
 * sandbox mount namespace is `<stateDir>/run`. Only root may connect (0700 sockets, no polkit:
 * there is no system D-Bus here).
 */
export function renderLibvirtdConf(layout: SandboxLayout): string {
  return [
    '# Written by `vtorque sandbox up`; rewritten on every up.',
    `# Inside the sandbox mount namespace /run/libvirt is ${layout.runDir}.`,
    'unix_sock_dir = "/run/libvirt"',
    'unix_sock_ro_perms = "0700"',
    'unix_sock_rw_perms = "0700"',
    'unix_sock_admin_perms = "0700"',
    'auth_unix_ro = "none"',
    'auth_unix_rw = "none"',
    `log_outputs = "3:file:${layout.logDir}/libvirtd.log"`,
    '',
  ].join('\n');
}

export function renderVirtlogdConf(layout: SandboxLayout): string {
  return [
    '# Written by `vtorque sandbox up`; rewritten on every up.',
    `log_outputs = "3:file:${layout.logDir}/virtlogd.log"`,
    '',
  ].join('\n');
}
