/**
 * longshore's `web` program, from the installed package: a blue/green web environment on AWS as
 * longshore.yaml (next to this file) describes it. The VPC, hosts whose SSH host keys longshore
 * generates and pins, each host provisioned over SSH with the file's app, and a load balancer
 * whose listener moves to a slot only after that slot's health gate passes.
 *
 * Config it reads (listed in Pulumi.yaml's `template.config`): `aws:region`, which must agree with
 * the file's `aws.region`, and each `{ pulumi: KEY }` secret the file names, as a stack secret
 * (`pulumi config set --secret KEY ...`). `longshore-web:environmentFile` names another file.
 */
import * as path from "node:path";
import { webProgram } from "longshore";

export = webProgram({ environmentFile: path.join(__dirname, "longshore.yaml") });
