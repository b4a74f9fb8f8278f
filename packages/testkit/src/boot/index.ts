/** Booting deployments for real: a bootable Debian base, a disk image holding a sysroot, qemu, and the guest's report. */
export { ensureBootableDebian, DEBIAN_BOOTABLE_REF } from './image.js';
export { BOOT_KERNEL_ARGS, makeBootDisk, type BootDisk, type BootDiskOptions, type BootOptions, type BootReport } from './disk.js';
export { type BootedDeployment, type BootFacts, type CommandFact } from './report.js';
export { runQemu, type QemuBoot, type QemuOutcome } from './qemu.js';
