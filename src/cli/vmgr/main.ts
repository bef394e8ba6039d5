import { runMain } from '../../core/run-main.js';
import { runVmgr } from './commands.js';

// The image pool CLI: anyone may look; root changes the pool (commands.ts).
await runMain('vmgr', () => runVmgr(process.argv.slice(2), { out: (s) => void process.stdout.write(s), euid: process.geteuid?.(), env: process.env }));
