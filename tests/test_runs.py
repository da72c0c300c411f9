import numpy as np
import pandas as pd
import pytest

from scaling import InputError, read_runs

GOOD = pd.DataFrame({"params": [1e7, 2e7, 4e7], "tokens": [2e8, 4e8, 8e8], "loss": [3.1, 3.0, 2.9]})


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_readers_round_trip(tmp_path, suffix):
    path = tmp_path / f"runs{suffix}"
    {".csv": lambda p: GOOD.to_csv(p, index=False), ".parquet": lambda p: GOOD.to_parquet(p),
     ".jsonl": lambda p: GOOD.to_json(p, orient="records", lines=True)}[suffix](path)
    runs = read_runs(path)
    np.testing.assert_allclose(runs["flops"], 6 * GOOD.params * GOOD.tokens)


def test_mapping_and_tokens_from_flops():
    raw = pd.DataFrame({"Model Size": [1e7, 2e7], "Training FLOP": [1.2e16, 4.8e16], "loss": [3.0, 2.9]})
    runs = read_runs(raw, columns={"params": "Model Size", "flops": "Training FLOP"})
    np.testing.assert_allclose(runs["tokens"], [2e8, 4e8])


@pytest.mark.parametrize("column,value,word", [("loss", np.nan, "loss"), ("params", -2e7, "params"), ("tokens", np.inf, "tokens")])
def test_bad_values_name_row_and_column(column, value, word):
    bad = GOOD.copy()
    bad.loc[1, column] = value
    with pytest.raises(InputError, match=rf"{word}.*row 1"):
        read_runs(bad)


def test_missing_column_and_duplicates():
    with pytest.raises(InputError, match="tokens"):
        read_runs(GOOD.rename(columns={"tokens": "tokns"}))
    with pytest.raises(InputError, match="row 3 duplicates"):
        read_runs(pd.concat([GOOD, GOOD.iloc[[0]]]))
