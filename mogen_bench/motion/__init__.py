"""Motion representations, skeletons and rotations: the feature layouts (``humanml3d-263``, ``kit-251``,
``smpl-rot6d-135``), the kinematic chains they are defined on, and the batched rotation conversions
(quaternions, axis-angle, matrices, continuous 6D) that move between them.
"""
