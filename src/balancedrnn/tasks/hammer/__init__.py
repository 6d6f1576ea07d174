"""Adroit Hammer (SPEC §5): the MuJoCo simulator with the D4RL reward, a planner expert, a distilled expert
policy, Minari data sets, behaviour cloning and scored rollouts.

Needs the ``hammer`` extra (gymnasium, gymnasium-robotics, mujoco, minari); imported lazily.
"""
