/**
 * The package's main entry (`import { HostFleet, Environment } from "longshore"`): the Pulumi
 * components of modules/ and the environment model (the schema, its type, the parse and load
 * functions). The command line is the separate entry `longshore/cli`, the provisioner's entry that
 * the ProvisionedHost dynamic provider requires at run time is `longshore/provisioner/apply-host`.
 * Importing this module declares no resources and reads no config.
 */
export * from "./modules/bastion";
export * from "./modules/blue-green-load-balancer";
export * from "./modules/health-gate";
export * from "./modules/host-fleet";
export * from "./modules/host-image";
export * from "./modules/host-key";
export * from "./modules/network";
export * from "./modules/provisioned-host";
export * from "./modules/security-groups";
export * from "./modules/ssh-key";
export * from "./model/environment";
export { parseEnvironment, loadEnvironment, loadComposeFile, type LoadedEnvironment, type LoadOptions } from "./model/environment-file";
export { webProgram, type WebProgramOptions } from "./stacks/web/program";
