/**
 * An application load balancer in front of two slots. Both target groups (blue and green) always
 * exist, so moving traffic never replaces anything: the switch is the listener's default action,
 * and only that changes. The listener `dependsOn` the health gate of every slot it sends traffic
 * to, so a slot that fails its gate never receives traffic, the update fails, and the listener
 * keeps forwarding where it did.
 *
 * Test listeners (one port per slot, reachable by admins only through the security group) reach
 * one slot each whatever the live slot is: the health gates check a slot through its test
 * listener, which is the path real traffic will take (load balancer, security groups, target
 * group health). That a slot answers there proves the load balancer has healthy targets in it;
 * that EVERY host is healthy is proven on each host by the provisioner's app health step.
 *
 * A gate runs again whenever its slot's instances change (their ids are an input of the gate), not
 * only when its URL or timings do: new hosts behind the same test listener are checked again.
 *
 * Draining: when hosts are retired, their target group attachments are deleted and the group
 * keeps serving their in-flight requests for `deregistrationDelaySeconds`.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { SLOTS, type SlotName } from "../model/names";
import { isPort } from "../model/net";
import type { SshEndpointInput } from "../provisioner/apply-host-contract";
import { DEFAULT_HEALTH_GATE, HealthGate, type HealthGateSettings } from "./health-gate";

/** The two slots, in a fixed order (the model's). */
export const SLOT_NAMES = SLOTS;
/** A slot. */
export type Slot = SlotName;

/** The target groups' health check (AWS's names and units). */
export interface TargetHealthCheck {
  /** Default `/healthz`. */
  path: string;
  /** Default `200`. */
  matcher: string;
  /** Default 10. */
  intervalSeconds: number;
  /** Default 5. */
  timeoutSeconds: number;
  /** Default 2. */
  healthyThreshold: number;
  /** Default 2. */
  unhealthyThreshold: number;
}

const DEFAULT_TARGET_HEALTH: Readonly<TargetHealthCheck> = Object.freeze({
  path: "/healthz",
  matcher: "200",
  intervalSeconds: 10,
  timeoutSeconds: 5,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
});

/** Arguments of {@link BlueGreenLoadBalancer}. */
export interface BlueGreenLoadBalancerArgs {
  vpcId: pulumi.Input<string>;
  /** Public subnets in at least two zones. */
  subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  securityGroupIds: pulumi.Input<pulumi.Input<string>[]>;
  /** The hosts' port traffic goes to. */
  appPort: number;
  /** Instance ids per slot; the lengths decide the attachments. */
  targets: Record<Slot, pulumi.Input<string>[]>;
  /** The slot that gets the traffic. Absent: the listener answers 503 (nothing is live yet). */
  liveSlot?: Slot;
  /** A canary split (0-999 each). Absent: all traffic to `liveSlot`. */
  weights?: Record<Slot, number>;
  /** Target group health check. Defaults: see {@link TargetHealthCheck}. */
  healthCheck?: Partial<TargetHealthCheck>;
  /** Seconds a deregistered host keeps serving in-flight requests. Default 60 (AWS's default is 300). */
  deregistrationDelaySeconds?: number;
  /** An ACM certificate: adds HTTPS on 443 and makes port 80 redirect to it. Default none. */
  certificateArn?: pulumi.Input<string>;
  /** TLS policy of the HTTPS listener. Default `ELBSecurityPolicy-TLS13-1-2-2021-06`. */
  sslPolicy?: string;
  /** One admin-only port per slot. Default none (then no health gates either). */
  testListenerPorts?: Record<Slot, number>;
  /**
   * Gate each slot that has hosts through its test listener (needs `testListenerPorts`); the
   * gate's path is the health check's. Default: gates with {@link DEFAULT_HEALTH_GATE} settings
   * when test listeners exist; `false` for none.
   */
  healthGate?:
    | (Partial<HealthGateSettings> & {
        /** Another gate provider (tests). */
        provider?: pulumi.dynamic.ResourceProvider;
        /** Check from this bastion (the test listeners must admit it). @default none: from the machine running Pulumi */
        jump?: pulumi.Input<SshEndpointInput>;
      })
    | false;
  /** What a slot's gate waits for before checking (e.g. its ProvisionedHosts). Default none. */
  slotDependencies?: Partial<Record<Slot, pulumi.Input<pulumi.Resource>[]>>;
  /** Seconds an idle connection stays open. Default 60. */
  idleTimeoutSeconds?: number;
  /** Tags on everything that takes tags. Default none. */
  tags?: Record<string, string>;
}

/** The slots that receive traffic under the given live slot and weights. Pure. */
export function servingSlots(liveSlot: Slot | undefined, weights: Record<Slot, number> | undefined): Slot[] {
  if (liveSlot === undefined) return [];
  if (weights === undefined) return [liveSlot];
  return SLOT_NAMES.filter((s) => weights[s] > 0);
}

/** Problems with the arguments; empty when fine. Refuses to send traffic to a slot with no hosts. */
export function blueGreenProblems(args: Pick<BlueGreenLoadBalancerArgs, "appPort" | "targets" | "liveSlot" | "weights" | "testListenerPorts" | "deregistrationDelaySeconds" | "healthCheck">): string[] {
  const problems: string[] = [];
  if (!isPort(args.appPort)) problems.push(`appPort: ${args.appPort} is not a port`);
  if (args.weights !== undefined) {
    if (args.liveSlot === undefined) problems.push("weights: need a liveSlot");
    for (const s of SLOT_NAMES) {
      const w = args.weights[s];
      if (!Number.isInteger(w) || w < 0 || w > 999) problems.push(`weights.${s}: must be a whole number from 0 to 999, got ${w}`);
    }
    if (args.liveSlot !== undefined && args.weights[args.liveSlot] === 0) problems.push(`weights.${args.liveSlot}: the live slot's weight must be more than 0`);
  }
  for (const s of servingSlots(args.liveSlot, args.weights)) {
    if (args.targets[s].length === 0) problems.push(`targets.${s}: the ${s} slot would receive traffic but has no hosts`);
  }
  if (args.testListenerPorts !== undefined) {
    const { blue, green } = args.testListenerPorts;
    if (blue === green) problems.push("testListenerPorts: blue and green must differ");
    for (const s of SLOT_NAMES) {
      const p = args.testListenerPorts[s];
      if ([80, 443].includes(p) || !isPort(p)) problems.push(`testListenerPorts.${s}: ${p} must be a port other than 80 and 443`);
    }
  }
  const delay = args.deregistrationDelaySeconds ?? 60;
  if (!Number.isInteger(delay) || delay < 0 || delay > 3600) problems.push(`deregistrationDelaySeconds: must be 0 to 3600, got ${delay}`);
  const hc = { ...DEFAULT_TARGET_HEALTH, ...args.healthCheck };
  if (hc.timeoutSeconds >= hc.intervalSeconds) problems.push("healthCheck.timeoutSeconds: must be less than intervalSeconds");
  return problems;
}

/**
 * The load balancer. Children: `${name}` (ALB), `${name}-blue`/`${name}-green` (target groups),
 * `${name}-blue-${i}`/`${name}-green-${i}` (attachments), `${name}-http` (and `${name}-https`)
 * listeners, `${name}-test-blue`/`${name}-test-green` (test listeners), `${name}-gate-blue`/
 * `${name}-gate-green` (health gates, for slots with hosts).
 */
export class BlueGreenLoadBalancer extends pulumi.ComponentResource {
  readonly loadBalancer: aws.lb.LoadBalancer;
  readonly dnsName: pulumi.Output<string>;
  readonly targetGroups: Record<Slot, aws.lb.TargetGroup>;
  /** The listener whose default action is the traffic switch (HTTPS when a certificate is given). */
  readonly trafficListener: aws.lb.Listener;
  readonly testListeners: Partial<Record<Slot, aws.lb.Listener>>;
  /** `http://<dns>:<port>` per slot, when test listeners exist. */
  readonly testEndpoints: Partial<Record<Slot, pulumi.Output<string>>>;
  readonly gates: Partial<Record<Slot, HealthGate>>;

  constructor(name: string, args: BlueGreenLoadBalancerArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Checked before super(): a refused switch declares nothing, not even the component.
    const problems = blueGreenProblems(args);
    if (problems.length) throw new Error(`BlueGreenLoadBalancer ${name}: ${problems.join("; ")}`);
    super("longshore:lb:BlueGreenLoadBalancer", name, {}, opts);
    const tags = args.tags ?? {};
    const child = { parent: this };
    const hc = { ...DEFAULT_TARGET_HEALTH, ...args.healthCheck };

    this.loadBalancer = new aws.lb.LoadBalancer(
      name,
      {
        loadBalancerType: "application",
        internal: false,
        subnets: args.subnetIds,
        securityGroups: args.securityGroupIds,
        idleTimeout: args.idleTimeoutSeconds ?? 60,
        // Requests with header names the ALB cannot parse go no further than the ALB.
        dropInvalidHeaderFields: true,
        tags: { ...tags, Name: name },
      },
      child,
    );
    this.dnsName = this.loadBalancer.dnsName;

    const groups = {} as Record<Slot, aws.lb.TargetGroup>;
    for (const slot of SLOT_NAMES) {
      groups[slot] = new aws.lb.TargetGroup(
        `${name}-${slot}`,
        {
          vpcId: args.vpcId,
          port: args.appPort,
          protocol: "HTTP",
          targetType: "instance",
          deregistrationDelay: args.deregistrationDelaySeconds ?? 60,
          healthCheck: {
            enabled: true,
            protocol: "HTTP",
            port: "traffic-port",
            path: hc.path,
            matcher: hc.matcher,
            interval: hc.intervalSeconds,
            timeout: hc.timeoutSeconds,
            healthyThreshold: hc.healthyThreshold,
            unhealthyThreshold: hc.unhealthyThreshold,
          },
          tags: { ...tags, Name: `${name}-${slot}`, "longshore:slot": slot },
        },
        child,
      );
    }
    this.targetGroups = groups;

    const attachments = {} as Record<Slot, aws.lb.TargetGroupAttachment[]>;
    for (const slot of SLOT_NAMES) {
      attachments[slot] = args.targets[slot].map(
        (instanceId, i) =>
          new aws.lb.TargetGroupAttachment(`${name}-${slot}-${i}`, { targetGroupArn: groups[slot].arn, targetId: instanceId, port: args.appPort }, child),
      );
    }

    this.testListeners = {};
    this.testEndpoints = {};
    this.gates = {};
    if (args.testListenerPorts) {
      for (const slot of SLOT_NAMES) {
        const port = args.testListenerPorts[slot];
        const listener = new aws.lb.Listener(
          `${name}-test-${slot}`,
          {
            loadBalancerArn: this.loadBalancer.arn,
            port,
            protocol: "HTTP",
            defaultActions: [{ type: "forward", targetGroupArn: groups[slot].arn }],
            tags: { ...tags, Name: `${name}-test-${slot}` },
          },
          child,
        );
        this.testListeners[slot] = listener;
        this.testEndpoints[slot] = pulumi.interpolate`http://${this.loadBalancer.dnsName}:${port}`;
        if (args.healthGate !== false && args.targets[slot].length > 0) {
          const settings = args.healthGate ?? {};
          this.gates[slot] = new HealthGate(
            `${name}-gate-${slot}`,
            {
              ...DEFAULT_HEALTH_GATE,
              ...settings,
              targets: [{ name: `${name} ${slot} slot (test listener :${port})`, url: pulumi.interpolate`http://${this.loadBalancer.dnsName}:${port}${hc.path}` }],
              // The instances attached behind the test listener: replacing them (a new image or
              // AMI: same URL, new ids) runs the gate again before traffic may reach them.
              instanceIds: attachments[slot].map((a) => a.targetId),
            },
            { parent: this, dependsOn: [listener, ...attachments[slot], ...(args.slotDependencies?.[slot] ?? [])] },
          );
        }
      }
    }

    const forward = this.forwardAction(groups, args.liveSlot, args.weights);
    const gatedOn = servingSlots(args.liveSlot, args.weights).flatMap((s) => (this.gates[s] ? [this.gates[s]!] : []));
    // The switch: the only input that changes when the live slot (or the split) changes.
    const switchOpts = { parent: this, dependsOn: gatedOn };
    if (args.certificateArn !== undefined) {
      new aws.lb.Listener(
        `${name}-http`,
        {
          loadBalancerArn: this.loadBalancer.arn,
          port: 80,
          protocol: "HTTP",
          defaultActions: [{ type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } }],
          tags: { ...tags, Name: `${name}-http` },
        },
        child,
      );
      this.trafficListener = new aws.lb.Listener(
        `${name}-https`,
        {
          loadBalancerArn: this.loadBalancer.arn,
          port: 443,
          protocol: "HTTPS",
          certificateArn: args.certificateArn,
          sslPolicy: args.sslPolicy ?? "ELBSecurityPolicy-TLS13-1-2-2021-06",
          defaultActions: [forward],
          tags: { ...tags, Name: `${name}-https` },
        },
        switchOpts,
      );
    } else {
      this.trafficListener = new aws.lb.Listener(
        `${name}-http`,
        { loadBalancerArn: this.loadBalancer.arn, port: 80, protocol: "HTTP", defaultActions: [forward], tags: { ...tags, Name: `${name}-http` } },
        switchOpts,
      );
    }

    this.registerOutputs({
      dnsName: this.dnsName,
      targetGroupArns: { blue: groups.blue.arn, green: groups.green.arn },
      testEndpoints: this.testEndpoints,
    });
  }

  /** The default action: 503 before anything is live, one group, or a weighted split. */
  private forwardAction(
    groups: Record<Slot, aws.lb.TargetGroup>,
    liveSlot: Slot | undefined,
    weights: Record<Slot, number> | undefined,
  ): aws.types.input.lb.ListenerDefaultAction {
    if (liveSlot === undefined) {
      return { type: "fixed-response", fixedResponse: { contentType: "text/plain", statusCode: "503", messageBody: "no live slot yet\n" } };
    }
    if (weights === undefined) return { type: "forward", targetGroupArn: groups[liveSlot].arn };
    return {
      type: "forward",
      forward: { targetGroups: SLOT_NAMES.map((s) => ({ arn: groups[s].arn, weight: weights[s] })) },
    };
  }
}
