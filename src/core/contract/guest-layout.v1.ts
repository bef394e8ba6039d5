/**
 * Contract guest-layout.v1: the paths a job's guest has, as the host side (engine, seeds, hooks)
 * writes them and the runner reads them. One definition; images bake the directories in
 * (vtorque-seed's GUEST_DIRS), so a change here is a new version. The names follow the original's
 * PBS layout, which job scripts written for vTorque expect.
 */
/** Guest directory the job user owns; the runner replaces files here after readiness. */
export const VM_SPOOL_DIR = '/var/spool/torque/vm';
/** The job's scheduler environment, sourced by login shells (the runner may replace it). */
export const ENV_FILE_PATH = `${VM_SPOOL_DIR}/job.env`;
/** Fixed login-shell snippet that sources ENV_FILE_PATH when present. */
export const PROFILE_SCRIPT_PATH = '/etc/profile.d/vtorque-job.sh';
/** Where each job's VM node file is written, as `<NODE_FILE_DIR>/<job dir name>`. */
export const NODE_FILE_DIR = '/var/spool/torque/aux';
/** The job's private user key (the job user's, 0600), the same in every VM: ssh between the job's VMs. */
export const VM_SSH_KEY_PATH = `${VM_SPOOL_DIR}/id_ed25519`;
/** `<ip>,<hostname> <host key>` for every VM of the job, for ssh's `-o UserKnownHostsFile=`. */
export const VM_KNOWN_HOSTS_PATH = `${VM_SPOOL_DIR}/known_hosts`;
