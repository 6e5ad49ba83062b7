"""CnnPolicy and MultiInputPolicy learn their tasks as SB3's PPO does: live, same seed, configs/observations.yml
values. One seed per learner here; `make parity` runs ten a side with the negative control (docs/parity/observations.md).

MiniGrid-Empty-5x5-v0 through minigrid's RGBImgObsWrapper + ImgObsWrapper is a channel-last 40x40x3 image (CnnPolicy,
SB3's VecTransposeImage); SimpleMultiObs-v0 is SB3's dict-observation grid world (MultiInputPolicy: NatureCNN on the
image key, flatten on the vector). Each learner must reach the task's reward threshold in the deterministic
evaluation: a policy that has not learned scores 0 on MiniGrid and about -10 on SimpleMultiObs.
"""

import pytest

from sb3_scratch_ppo import parity, zoo
from tests.extras import require

pytestmark = pytest.mark.slow  # minutes of training or subprocesses: `make test-fast` leaves it out

OBSERVATIONS = zoo.OBSERVATIONS_PATH


@pytest.mark.parametrize("learner", ["sb3", "scratch"])
@pytest.mark.parametrize("env_id", ["MiniGrid-Empty-5x5-v0", "SimpleMultiObs-v0"])
def test_reaches_the_reward_threshold(env_id, learner):
    if env_id.startswith("MiniGrid"):
        require("minigrid")
    run = parity.run_one(env_id, learner, seed=0, config_path=str(OBSERVATIONS))
    assert run.n_timesteps == zoo.load(env_id, OBSERVATIONS).n_timesteps
    threshold = parity.reward_threshold(env_id)
    assert run.final >= threshold, f"{learner} on {env_id}: {run.eval_returns} (threshold {threshold})"
    assert run.curve[0] < threshold  # it learned: the first episodes did not reach it
