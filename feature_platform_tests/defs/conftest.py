from pathlib import Path

import pytest

from feature_platform.settings import Settings
from feature_platform_tests.sample_platform import SampleWarehouse, build_sample_warehouse


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory) -> SampleWarehouse:
    return build_sample_warehouse(tmp_path_factory.mktemp("sample_warehouse"))


@pytest.fixture
def platform_settings(sample_warehouse: SampleWarehouse, tmp_path: Path, redis_url: str) -> Settings:
    return sample_warehouse.copy_to(tmp_path / "data", redis_url)
