"""Motion primitives: a body part's ``Primitive`` over a stage -> local SMPL joint rotations or root signals.

Coordinates are SMPL's own body frame (y up, facing +z, the subject's left +x), in which every local joint
rotation of the rest pose is the identity and the rest pose is a T-pose. Rotations are unit quaternions
``(w, x, y, z)``, ``(F, 4)`` per touched joint, built from rotations about the body axes:

- ``R_x(+a)`` tips a downward bone backward and an upward one forward (forward bend, knee flexion), so hip
  flexion (thigh forward) is ``R_x(-a)``;
- ``R_y(+a)`` turns the front of the body to the subject's left (head turn, torso twist to the left);
- ``R_z(+a)`` swings the left arm up from hanging and a left leg out to the side.

Arms and legs are written once, for the left limb. A right-limb primitive is computed as its mirror image
on the left limb and mirrored back (``mirror_rotations``), so both sides move alike by construction.
Each function is vectorised over the stage's frames; ``u`` runs from 0 at the first frame to 1 at the
last. Periodic and repeated movements fit a whole number of repetitions into the stage and end where they
began, so the next stage starts from a pose the text of this one describes.

Angles are in degrees in the tables below. ``amplitude`` in [0, 1] interpolates between a range's ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mogen_bench.motion.skeletons import SMPL24
from mogen_bench.synth.catalogue import PART_KIND, Primitive, mirror_part
from mogen_bench.synth.subjects import SubjectStyle

L_HIP, SPINE1, L_KNEE, SPINE2, L_ANKLE, SPINE3 = 1, 3, 4, 6, 7, 9
NECK, L_COLLAR, HEAD, L_SHOULDER, L_ELBOW = 12, 13, 15, 16, 18
_MIRROR = SMPL24.mirror_permutation()

#: Largest rotation angle (degrees) each joint's local rotation may have: the joint limits every pose is
#: clamped to. Generous anatomical ranges; the primitives stay inside them by design.
JOINT_LIMITS_DEG: tuple[float, ...] = (
    360.0,  # 0 pelvis: the global orientation, free
    125.0, 125.0,  # 1, 2 hips
    45.0,  # 3 spine1
    150.0, 150.0,  # 4, 5 knees
    45.0,  # 6 spine2
    55.0, 55.0,  # 7, 8 ankles
    45.0,  # 9 spine3
    30.0, 30.0,  # 10, 11 feet
    45.0,  # 12 neck
    30.0, 30.0,  # 13, 14 collars
    55.0,  # 15 head
    180.0, 180.0,  # 16, 17 shoulders
    150.0, 150.0,  # 18, 19 elbows
    70.0, 70.0,  # 20, 21 wrists
    30.0, 30.0,  # 22, 23 hands
)  # fmt: skip


#: Gravity (m/s^2): a jump's height follows from its time in the air.
GRAVITY = 9.81
#: A jump's take-off and landing, as shares of its time (crouch, flight, landing crouch).
TAKEOFF, LANDING = 0.35, 0.65
FLIGHT_SHARE = LANDING - TAKEOFF
#: Longest time in the air (seconds): 0.4 s is a 20 cm jump.
MAX_AIRTIME = 0.4


@dataclass(frozen=True)
class Timing:
    """How a primitive uses time: ``held`` poses, ``periodic`` cycles (Hz), or ``pulse`` repetitions.

    For pulses ``low``/``high`` are the shortest and longest seconds one repetition takes; for cycles the
    lowest and highest frequency. The sampler turns them into a whole ``count`` for the stage's length.
    """

    kind: str
    low: float = 0.0
    high: float = 0.0


TIMING: dict[tuple[str, str], Timing] = {
    ("head", "nod"): Timing("periodic", 0.8, 2.0),
    ("head", "shake"): Timing("periodic", 0.8, 2.0),
    ("spine", "sway"): Timing("periodic", 0.4, 0.9),
    ("arm", "wave"): Timing("periodic", 1.0, 2.5),
    ("arm", "circle"): Timing("periodic", 0.5, 1.2),
    ("arm", "swing"): Timing("periodic", 0.6, 1.2),
    ("arm", "punch"): Timing("pulse", 0.45, 1.0),
    ("leg", "step"): Timing("pulse", 0.6, 1.5),
    ("leg", "kick"): Timing("pulse", 0.7, 1.5),
    ("leg", "knee_lift"): Timing("pulse", 0.8, 1.5),
    ("leg", "walk"): Timing("periodic", 0.75, 1.0),
    ("leg", "side_step"): Timing("periodic", 0.6, 0.9),
    ("leg", "turn_step"): Timing("periodic", 0.8, 1.1),
    ("trajectory", "walk"): Timing("periodic", 0.75, 1.0),
    ("trajectory", "side_step"): Timing("periodic", 0.6, 0.9),
    ("trajectory", "jump"): Timing("pulse", 0.8, 1.4),
    ("trajectory", "squat"): Timing("pulse", 1.0, 2.5),
}


def timing(kind: str, name: str) -> Timing:
    return TIMING.get((kind, name), Timing("held"))


# ------------------------------------------------------------------------------------------ quaternions


def _axis_rotation(axis: int, degrees) -> np.ndarray:
    """Quaternions ``(..., 4)`` of rotations by ``degrees`` (array or number) about body axis 0, 1 or 2."""
    half = np.radians(np.asarray(degrees, dtype=np.float64)) / 2
    q = np.zeros((*half.shape, 4))
    q[..., 0] = np.cos(half)
    q[..., 1 + axis] = np.sin(half)
    return q


def rot_x(degrees) -> np.ndarray:
    return _axis_rotation(0, degrees)


def rot_y(degrees) -> np.ndarray:
    return _axis_rotation(1, degrees)


def rot_z(degrees) -> np.ndarray:
    return _axis_rotation(2, degrees)


def qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` (``b`` acts first), broadcasting; plain numpy for small hot loops."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def mirror_quaternion(q: np.ndarray) -> np.ndarray:
    """``M R M`` with ``M = diag(-1, 1, 1)``: the rotation seen in the x = 0 mirror (y and z parts negate)."""
    return q * np.array([1.0, 1.0, -1.0, -1.0])


def mirror_rotations(rotations: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Left-limb rotations -> the same movement on the right limb (and vice versa)."""
    return {_MIRROR[j]: mirror_quaternion(q) for j, q in rotations.items()}


def _frames(q: np.ndarray, n: int) -> np.ndarray:
    """A constant rotation ``(4,)`` repeated over ``n`` frames, or ``(n, 4)`` unchanged."""
    return np.broadcast_to(q, (n, 4)).copy() if q.ndim == 1 else q


# ------------------------------------------------------------------------------------- time envelopes


def lerp(low: float, high: float, t) -> np.ndarray | float:
    return low + (high - low) * t


def smoothstep(x) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def pulse_progress(u: np.ndarray, count: int, start: float = 0.1, end: float = 0.9) -> np.ndarray:
    """Progress in [0, 1] through the current one of ``count`` equal windows; flat at 0 (or 1) at the
    windows' margins, so one repetition finishes before the next begins."""
    local = np.minimum(u * count, count - 1e-9) % 1.0
    return np.clip((local - start) / (end - start), 0.0, 1.0)


def bump(s: np.ndarray) -> np.ndarray:
    """0 -> 1 -> 0 with zero slope at both ends."""
    return np.sin(np.pi * s) ** 2


def plateau(s: np.ndarray) -> np.ndarray:
    """0 -> 1, hold, -> 0: a movement out to a pose, a pause there and back."""
    return smoothstep(s / 0.35) * (1 - smoothstep((s - 0.65) / 0.35))


def gait_envelope(u: np.ndarray) -> np.ndarray:
    """Ramps a gait in over the stage's first 15% and out over its last 15% (start and stop smoothly)."""
    return smoothstep(u / 0.15) * smoothstep((1 - u) / 0.15)


def _phase(u: np.ndarray, p: Primitive) -> np.ndarray:
    return 2 * np.pi * (p.count * u + p.phase)


# ------------------------------------------------------------------------------------------------- head


def _head(p: Primitive, u: np.ndarray, style: SubjectStyle) -> dict[int, np.ndarray]:
    a, n = p.amplitude, len(u)
    side = 1.0 if p.direction == "left" else -1.0
    if p.name == "still":
        return {}
    if p.name == "nod":
        q = rot_x(lerp(15, 35, a) * (1 - np.cos(_phase(u, p))) / 2)
    elif p.name == "shake":
        q = rot_y(lerp(20, 45, a) * np.sin(_phase(u, p)))
    elif p.name == "turn":
        q = rot_y(side * lerp(30, 70, a))
    elif p.name == "look_up":
        q = rot_x(-lerp(20, 45, a))
    elif p.name == "look_down":
        q = rot_x(lerp(20, 45, a))
    elif p.name == "tilt":
        q = rot_z(-side * lerp(15, 30, a))
    else:
        raise KeyError(p.name)
    return _share(_frames(q, n), {NECK: 0.4, HEAD: 0.6})


def _share(q: np.ndarray, weights: dict[int, float]) -> dict[int, np.ndarray]:
    """Spread one rotation over a chain of joints (each gets the same axis, a share of the angle)."""
    w = np.clip(q[..., :1], -1.0, 1.0)
    half = np.arccos(w)
    axis_sin = q[..., 1:]
    out = {}
    for joint, share in weights.items():
        # q = (cos h, sin h * axis): the share keeps the axis and scales the half angle.
        scale = np.where(np.sin(half) > 1e-12, np.sin(share * half) / np.maximum(np.sin(half), 1e-12), share)
        out[joint] = np.concatenate([np.cos(share * half), axis_sin * scale], axis=-1)
    return out


# ------------------------------------------------------------------------------------------------ spine


def _spine(p: Primitive, u: np.ndarray, style: SubjectStyle) -> dict[int, np.ndarray]:
    a, n = p.amplitude, len(u)
    side = 1.0 if p.direction == "left" else -1.0
    if p.name == "still":
        return {}
    if p.name == "bend_forward":
        q = rot_x(lerp(20, 60, a))
    elif p.name == "lean_back":
        q = rot_x(-lerp(10, 25, a))
    elif p.name == "lean_side":
        q = rot_z(-side * lerp(10, 25, a))
    elif p.name == "twist":
        q = rot_y(side * lerp(20, 45, a))
    elif p.name == "sway":
        q = rot_z(lerp(8, 20, a) * np.sin(_phase(u, p)))
    else:
        raise KeyError(p.name)
    return _share(_frames(q, n), {SPINE1: 0.35, SPINE2: 0.35, SPINE3: 0.3})


# -------------------------------------------------------------------------------------------------- arm


def _left_arm(p: Primitive, u: np.ndarray, style: SubjectStyle) -> dict[int, np.ndarray]:
    """The left arm. The rest pose hangs the arm ``arm_rest_deg`` below the T-pose's horizontal; an elbow
    flexion ``R_y(-e)`` bends the forearm to the front of a hanging arm."""
    a, n = p.amplitude, len(u)
    hang = rot_z(-style.arm_rest_deg)
    elbow = rot_y(-10.0)
    collar = None
    if p.name == "rest":
        shoulder = hang
    elif p.name == "raise_forward":
        # Swung forward and up about the body's x axis, past the horizontal.
        shoulder = qmul(rot_x(-lerp(100, 140, a)), hang)
        elbow = rot_y(-5.0)
    elif p.name == "raise_side":
        # Degrees above the horizontal, out to the side; high enough to stay above the shoulder when the
        # torso leans the other way (lean_side reaches 25 degrees).
        shoulder = rot_z(lerp(32, 65, a))
        elbow = rot_y(-5.0)
    elif p.name == "overhead":
        shoulder = qmul(rot_x(-lerp(155, 172, a)), hang)
        elbow = rot_y(-5.0)
        collar = rot_z(10.0)
    elif p.name == "wave":
        elevation = lerp(50, 72, a) + lerp(10, 22, a) * np.sin(_phase(u, p))
        shoulder = rot_z(elevation)
        elbow = rot_y(-lerp(25, 50, a))
        collar = rot_z(8.0)
    elif p.name == "punch":
        out = bump(pulse_progress(u, p.count, 0.05, 0.75))
        forward = 25 + (lerp(75, 95, a) - 25) * out
        shoulder = qmul(rot_x(-forward), rot_z(-(style.arm_rest_deg + 5)))
        elbow = rot_y(-(115 * (1 - out) + 5))
    elif p.name == "circle":
        radius = lerp(20, 50, a)
        angle = _phase(u, p)
        forward = (1.0 if p.direction == "forward" else -1.0) * radius * np.sin(angle)
        shoulder = qmul(rot_y(-forward), rot_z(radius * np.cos(angle)))
        elbow = rot_y(-5.0)
    elif p.name == "swing":
        shoulder = qmul(rot_x(-lerp(20, 50, a) * np.sin(_phase(u, p))), hang)
        elbow = rot_y(-15.0)
    else:
        raise KeyError(p.name)
    out = {L_SHOULDER: _frames(shoulder, n), L_ELBOW: _frames(elbow, n)}
    if collar is not None:
        out[L_COLLAR] = _frames(collar, n)
    return out


# -------------------------------------------------------------------------------------------------- leg


def _flat_foot_leg(hip_flexion: np.ndarray, knee_flexion: np.ndarray, base_hip: np.ndarray, n: int):
    """Hip, knee and an ankle that keeps the sole parallel to the pelvis (squats, jumps)."""
    return {
        L_HIP: _frames(qmul(rot_x(-hip_flexion), base_hip), n),
        L_KNEE: _frames(rot_x(knee_flexion), n),
        L_ANKLE: _frames(rot_x(hip_flexion - knee_flexion), n),
    }


def jump_profile(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One jump over progress ``s`` in [0, 1]: ``(leg bend, flight progress, airborne)``.

    Crouch and push off until 0.35, fly (tucking the legs a little) until 0.65, land into a crouch and
    stand up by 1. Flight progress runs 0 -> 1 through the flight and is 0 before, 1 after.
    """
    crouch = np.sin(np.pi * np.clip(s / TAKEOFF, 0, 1)) ** 2
    flight = np.clip((s - TAKEOFF) / FLIGHT_SHARE, 0, 1)
    airborne = (s > TAKEOFF) & (s < LANDING)
    tuck = 0.3 * np.sin(np.pi * flight) ** 2
    land = np.sin(np.pi * np.clip((s - LANDING) / (1 - LANDING), 0, 1)) ** 2
    return np.where(s < TAKEOFF, crouch, np.where(airborne, tuck, land)), flight, airborne


def _left_leg(p: Primitive, u: np.ndarray, style: SubjectStyle) -> dict[int, np.ndarray]:
    a, n = p.amplitude, len(u)
    base_hip = rot_z(style.stance_deg)
    base_ankle = rot_z(-style.stance_deg)
    zeros = np.zeros(n)
    hip, knee, ankle = rot_x(zeros), zeros, zeros  # hip as a rotation before the stance; knee/ankle angles
    if p.name == "stand":
        pass
    elif p.name == "step":
        s = pulse_progress(u, p.count)
        out, lift = np.sin(np.pi * s), lerp(30, 50, a) * np.sin(2 * np.pi * s) ** 2
        if p.direction == "side":
            hip = rot_z(lerp(15, 30, a) * out)
        elif p.direction == "backward":
            hip = rot_x(lerp(15, 25, a) * out)
        else:
            hip = rot_x(-lerp(20, 35, a) * out)
        knee = lift
    elif p.name == "kick":
        b = bump(pulse_progress(u, p.count, 0.1, 0.8))
        if p.direction == "side":
            hip, knee = rot_z(lerp(30, 55, a) * b), lerp(40, 70, a) * 4 * b * (1 - b)
        elif p.direction == "backward":
            hip, knee = rot_x(lerp(20, 35, a) * b), lerp(40, 70, a) * b
        else:
            hip, knee = rot_x(-lerp(45, 85, a) * b), lerp(40, 70, a) * 4 * b * (1 - b)
    elif p.name == "knee_lift":
        b = plateau(pulse_progress(u, p.count))
        hip, knee, ankle = rot_x(-lerp(60, 100, a) * b), lerp(80, 110, a) * b, 10 * b
    elif p.name == "squat":
        b = plateau(pulse_progress(u, p.count, 0.05, 0.95))
        depth = lerp(50, 95, a)
        return _flat_foot_leg(depth * b, min(1.25 * depth + 10, 140) * b, base_hip, n)
    elif p.name == "jump":
        bend, _, _ = jump_profile(pulse_progress(u, p.count, 0.0, 1.0))
        depth = lerp(25, 55, a)
        return _flat_foot_leg(depth * bend, 1.6 * depth * bend, base_hip, n)
    elif p.name == "walk":
        angle, env = _phase(u, p), gait_envelope(u)
        swing = np.cos(angle) if p.direction != "backward" else -np.cos(angle)
        hip = rot_x(-lerp(12, 22, a) * np.sin(angle) * env)
        knee = lerp(35, 55, a) * np.maximum(swing, 0) ** 1.5 * env
        ankle = -0.3 * knee  # toes up while the foot swings through
    elif p.name == "side_step":
        angle, env = _phase(u, p), gait_envelope(u)
        # Both hips open and close together; the leg on the travelling side lifts while they open.
        lead = np.sin(angle) if p.direction == "left" else -np.sin(angle)
        spread = lerp(10, 20, a) * (1 - np.cos(angle)) / 2 * env
        # The foot lifts straight up (thigh forward, shin back by the same angle), so it does not pull
        # the body forward or back while it takes or gives up the weight.
        lift = lerp(18, 28, a) * np.maximum(lead, 0) ** 1.5 * env
        hip, knee, ankle = qmul(rot_z(spread), rot_x(-lift)), 2 * lift, -lift
        base_ankle = rot_z(-style.stance_deg - spread)
    elif p.name == "turn_step":
        env = gait_envelope(u)
        lift = lerp(20, 35, a) * np.maximum(np.sin(_phase(u, p)), 0) ** 1.5 * env
        hip, knee, ankle = rot_x(-lift), 2 * lift, -lift
    else:
        raise KeyError(p.name)
    return {
        L_HIP: _frames(qmul(hip, base_hip), n),
        L_KNEE: _frames(rot_x(knee), n),
        L_ANKLE: _frames(qmul(rot_x(ankle), base_ankle), n),
    }


# ------------------------------------------------------------------------------------------- dispatch

_LEFT_LIMB: dict[str, Callable] = {"arm": _left_arm, "leg": _left_leg}
_MIDLINE: dict[str, Callable] = {"head": _head, "spine": _spine}


def part_rotations(part: str, p: Primitive, num_frames: int, style: SubjectStyle) -> dict[int, np.ndarray]:
    """Local rotations ``{joint: (F, 4)}`` of ``part`` performing ``p`` (joints not listed stay identity)."""
    u = np.linspace(0.0, 1.0, num_frames)
    kind = PART_KIND[part]
    if kind in _MIDLINE:
        return _MIDLINE[kind](p, u, style)
    if part.startswith("left_"):
        return _LEFT_LIMB[kind](p, u, style)
    # The right limb: the mirror image of the left limb doing the mirrored primitive.
    assert mirror_part(part).startswith("left_")
    return mirror_rotations(_LEFT_LIMB[kind](p.mirrored(), u, style))


def rest_pose(style: SubjectStyle) -> np.ndarray:
    """The standing pose every sequence starts from: local quaternions ``(24, 4)``."""
    q = np.zeros((24, 4))
    q[:, 0] = 1.0
    for part in ("left_arm", "right_arm", "left_leg", "right_leg"):
        kind = PART_KIND[part]
        neutral = Primitive("rest" if kind == "arm" else "stand")
        for joint, rotation in part_rotations(part, neutral, 1, style).items():
            q[joint] = rotation[0]
    return q


@dataclass(frozen=True)
class RootSignals:
    """What the trajectory primitive prescribes for the root over one stage (``F`` frames each)."""

    #: Heading change since the stage began, radians, positive = turning to the subject's left.
    heading: np.ndarray
    #: Height of the lowest joint above the floor (non-zero only in a jump's flight), metres.
    lift: np.ndarray
    #: Frames with no foot on the floor.
    airborne: np.ndarray
    #: Forward distance travelled through the air since the stage began (forward jumps), metres.
    advance: np.ndarray


def root_signals(p: Primitive, num_frames: int, fps: float) -> RootSignals:
    """The trajectory primitive's heading, flight and airborne advance; walking and side-stepping are not
    here: they come out of the legs' gait, whose stance foot the root follows (``assemble``)."""
    u = np.linspace(0.0, 1.0, num_frames)
    zeros = np.zeros(num_frames)
    a = p.amplitude
    if p.name == "turn":
        tier = min(2, int(a * 3))
        # Three kinds of turn the texts can name (an eighth, a quarter, a half turn), each +-10 degrees.
        angle = (45.0, 90.0, 180.0)[tier] + (a * 3 - tier - 0.5) * 20
        side = 1.0 if p.direction == "left" else -1.0
        return RootSignals(np.radians(side * angle) * smoothstep(u), zeros, zeros.astype(bool), zeros)
    if p.name == "jump":
        s = pulse_progress(u, p.count, 0.0, 1.0)
        _, flight, airborne = jump_profile(s)
        # A ballistic flight: t seconds in the air rise g t^2 / 8 (5 to 20 cm for these jumps).
        airtime = min((num_frames - 1) / fps / p.count * FLIGHT_SHARE, MAX_AIRTIME)
        height = GRAVITY * airtime**2 / 8 * 4 * flight * (1 - flight)
        done = np.floor(np.minimum(u * p.count, p.count - 1e-9))  # jumps completed before this one
        distance = lerp(1.0, 1.8, a) * airtime if p.direction == "forward" else 0.0
        return RootSignals(zeros, height, airborne, distance * (done + flight))
    return RootSignals(zeros, zeros, zeros.astype(bool), zeros)
