"""LeRobotDataset glue: recording episodes, the simreal sidecar, reading and checking datasets.

Datasets are written through LeRobot's own API (v3.0: parquet + MP4) with the sidecar
`meta/simreal.json` (task, controller, observation config, fps, every episode's reset seed).
"""

from simreal.datasets.reading import (
    column_to_numpy,
    open_dataset,
    read_episode_columns,
    read_episode_index,
)
from simreal.datasets.recorder import DatasetRecorder
from simreal.datasets.schema import (
    ACTION_KEY,
    DEPTH_PREFIX,
    IMAGE_PREFIX,
    POINTCLOUD_KEY,
    STATE_KEY,
    schema_difference,
    storage_features,
)
from simreal.datasets.sidecar import SIDECAR_PATH, read_simreal_meta, used_seeds, write_simreal_meta
from simreal.datasets.summary import dataset_summary
from simreal.datasets.validate import ValidationReport, validate_dataset

__all__ = [
    "ACTION_KEY",
    "DEPTH_PREFIX",
    "IMAGE_PREFIX",
    "POINTCLOUD_KEY",
    "SIDECAR_PATH",
    "STATE_KEY",
    "DatasetRecorder",
    "ValidationReport",
    "column_to_numpy",
    "dataset_summary",
    "open_dataset",
    "read_episode_columns",
    "read_episode_index",
    "read_simreal_meta",
    "schema_difference",
    "storage_features",
    "used_seeds",
    "validate_dataset",
    "write_simreal_meta",
]
