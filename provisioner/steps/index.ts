/**
 * The ordered step list that takes a host from bare to serving the app:
 *
 *   engine.facts → engine.bundle → engine.install → engine.configure → engine.start →
 *   engine.verify → image.load | (image.fetch) image.layers | image.pull → app.run | app.compose →
 *   app.health → audit.append
 *
 * (`image.fetch` is not a step: provision-hosts.ts fills each host's blob store between the engine
 * steps and `image.layers`, across hosts, see layers/blob-delivery.ts.)
 *
 * `engine.bundle` is left out for the distro channel; the image step follows the image source;
 * a Compose app (`app.compose`) runs its project instead of one container.
 */
import type { Step } from "../step";
import { auditAppendStep } from "./app-audit";
import { appHealthStep } from "./app-health";
import { imageLayersStep, imageLoadStep, imagePullStep } from "./app-image";
import { appComposeStep } from "./app-compose";
import { appRunStep } from "./app-run";
import { engineBundleStep } from "./engine-bundle";
import { engineConfigureStep } from "./engine-configure";
import type { ProvisionContext } from "./engine-context";
import { engineFactsStep } from "./engine-facts";
import { engineInstallStep } from "./engine-install";
import { engineStartStep } from "./engine-start";
import { engineVerifyStep } from "./engine-verify";

/** Every step id, in the order they run. */
export const STEP_ORDER = [
  "engine.facts",
  "engine.bundle",
  "engine.install",
  "engine.configure",
  "engine.start",
  "engine.verify",
  "image.load",
  "image.layers",
  "image.pull",
  "app.run",
  "app.compose",
  "app.health",
  "audit.append",
] as const;

/**
 * The app's step ids, every image source's (image, run, health, audit), in the order they run:
 * what an engine-only run leaves out (a host image's builder, locally or on AWS).
 */
export const APP_STEP_IDS: readonly string[] = STEP_ORDER.filter((id) => !id.startsWith("engine."));

/** The engine steps for a channel (facts through verify). */
export function engineSteps(channel: ProvisionContext["engine"]["channel"]): Step<ProvisionContext>[] {
  return [
    engineFactsStep,
    ...(channel === "bundle" ? [engineBundleStep] : []),
    engineInstallStep,
    engineConfigureStep,
    engineStartStep,
    engineVerifyStep,
  ];
}

/** The app steps for an image source (image, run or compose, health, audit). */
export function appSteps(imageSource: ProvisionContext["image"]["source"], compose = false): Step<ProvisionContext>[] {
  const image = { archive: imageLoadStep, layers: imageLayersStep, registry: imagePullStep }[imageSource];
  return [image, compose ? appComposeStep : appRunStep, appHealthStep, auditAppendStep];
}

/** All steps for one host, in order. */
export function provisionSteps(ctx: Pick<ProvisionContext, "engine" | "image"> & { app?: Pick<ProvisionContext["app"], "compose"> }): Step<ProvisionContext>[] {
  return [...engineSteps(ctx.engine.channel), ...appSteps(ctx.image.source, ctx.app?.compose !== undefined)];
}

export {
  auditAppendStep,
  appComposeStep,
  appHealthStep,
  appRunStep,
  engineBundleStep,
  engineConfigureStep,
  engineFactsStep,
  engineInstallStep,
  engineStartStep,
  engineVerifyStep,
  imageLayersStep,
  imageLoadStep,
  imagePullStep,
};
