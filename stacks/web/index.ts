/**
 * The `web` stack program of this repository (Pulumi.yaml runs its build). The program itself is
 * {@link webProgram} (program.ts), which a project of your own runs the same way
 * (templates/pulumi-web). Run it through Pulumi after `npm run build` (see docs/aws.md);
 * `longshore rollout` with `driver: aws` runs it for you.
 */
import { webProgram } from "./program";

export = webProgram();
