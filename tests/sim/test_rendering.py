import gc

import numpy as np

from simreal.sim import make_env


def test_dropping_one_env_leaves_another_envs_frames_intact():
    first = make_env("push_t")
    first.reset(seed=0)
    first.render()
    second = make_env("peg_insert")
    second.reset(seed=0)
    before = second.render()
    del first  # collected without close(): must free its GL objects in its own context
    gc.collect()
    after = second.render()
    second.close()
    np.testing.assert_array_equal(before, after)
