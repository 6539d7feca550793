/** The default: a real guest on v86 (loaded only when a VM is first started). */
export const launchVirtualMachine = async (launch) => {
    const { VirtualMachine } = await import('../../emulator/vm.ts');
    return VirtualMachine.start({
        name: launch.name,
        nics: launch.nics,
        hostname: launch.hostname,
        ip: launch.ip,
        hosts: launch.hosts,
        template: launch.template,
        ...(launch.log ? { log: launch.log } : {}),
    });
};
