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


@pytest.mark.parametrize("column", ["run", "dataset"])
def test_a_row_without_a_run_or_dataset_name_is_named(column):
    """A missing label would drop the row out of every per-run or per-dataset grouping, silently."""
    table = GOOD.assign(**{column: ["a", None, "c"]})
    with pytest.raises(InputError, match=f"column '{column}', row 1: no {column} name"):
        read_runs(table)


def test_spaces_around_header_names_are_not_part_of_them(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text(" params , tokens ,loss \n1e7,2e8,3.1\n2e7,4e8,3.0\n")
    assert list(read_runs(path).columns[:3]) == ["params", "tokens", "loss"]


def test_a_loss_on_the_wrong_scale_is_named():
    """Above 50 nats per token a loss is not a per-token cross-entropy (a perplexity, a per-sequence sum)."""
    with pytest.raises(InputError, match=r"column 'loss', row 1: value 120.0 is not a cross-entropy in nats per token"):
        read_runs(GOOD.assign(loss=[3.1, 120.0, 2.9]))


def test_missing_column_and_duplicates():
    with pytest.raises(InputError, match="tokens"):
        read_runs(GOOD.rename(columns={"tokens": "tokns"}), required=("params", "tokens", "loss"))
    assert "tokns" in read_runs(GOOD.rename(columns={"tokens": "tokns"}))     # by default only a loss is needed
    with pytest.raises(InputError, match=r"missing column\(s\) \['loss'\]"):
        read_runs(GOOD.drop(columns="loss"))
    with pytest.raises(InputError, match=r"row 3 \(index 0\) duplicates"):
        read_runs(pd.concat([GOOD, GOOD.iloc[[0]]]))


def test_a_folder_of_per_run_files_is_one_table_and_errors_name_the_file(tmp_path):
    curve = pd.DataFrame({"step": [100, 200, 300], "lr": [1e-3, 1e-3, 5e-4], "loss": [3.2, 3.0, 2.9]})
    curve.to_csv(tmp_path / "cosine.csv", index=False)
    curve.assign(loss=curve.loss + 0.1).to_parquet(tmp_path / "wsd.parquet")
    curve.assign(run="named").to_json(tmp_path / "other.jsonl", orient="records", lines=True)
    (tmp_path / "README.md").write_text("not a table")
    runs = read_runs(tmp_path, required=("step", "loss"))
    assert list(runs.run.unique()) == ["cosine", "named", "wsd"] and len(runs) == 9     # name order; own run column kept
    np.testing.assert_allclose(runs[runs.run == "wsd"].loss, curve.loss + 0.1)
    curve.assign(loss=[3.2, -1.0, 2.9]).to_csv(tmp_path / "broken.csv", index=False)
    with pytest.raises(InputError, match=r"broken\.csv: column 'loss', row 1"):
        read_runs(tmp_path, required=("step", "loss"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no runs files"):
        read_runs(tmp_path / "empty")


def test_a_cell_that_is_not_a_number_is_named_before_any_arithmetic():
    with pytest.raises(InputError, match=r"column 'params', row 1: value 'abc' is not a positive"):
        read_runs(GOOD.astype({"params": object}).assign(params=[1e7, "abc", 4e7]).drop(columns="tokens").assign(flops=1e18),
                  required=("params", "loss"))
    with pytest.raises(InputError, match=r"column 'params', row 1: value -20000000.0 is"):
        read_runs(GOOD.assign(params=[1e7, -2e7, 4e7]))
    curve = pd.DataFrame({"run": "a", "step": ["100", "2oo", "300"], "lr": [1e-3, None, 1e-3], "loss": [3.0, 2.9, 2.8]})
    with pytest.raises(InputError, match=r"column 'step', row 1 \(run 'a', step '2oo'\): value '2oo' is not a number"):
        read_runs(curve, required=("step", "loss"))
    ok = read_runs(curve.assign(step=[100, 200, 300]), required=("step", "loss"))
    assert ok["step"].dtype.kind == "i" and np.isnan(ok["lr"][1])      # integer steps stay integers; an empty lr cell stays empty


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_run_ids_are_read_as_written(tmp_path, suffix):
    """'007' and '7' are two runs (text formats typed them as the number 7 and merged them)."""
    path = tmp_path / f"ids{suffix}"
    if suffix == ".csv":
        path.write_text("run,params,tokens,loss,dataset\n007,1e7,2e8,3.1,1\n7,2e7,4e8,3.0,1\n1e3,4e7,8e8,2.9,1\n")
    else:
        path.write_text('{"run": "007", "params": 1e7, "tokens": 2e8, "loss": 3.1, "dataset": "1"}\n'
                        '{"run": "7", "params": 2e7, "tokens": 4e8, "loss": 3.0, "dataset": "1"}\n'
                        '{"run": "1e3", "params": 4e7, "tokens": 8e8, "loss": 2.9, "dataset": "1"}\n')
    runs = read_runs(path)
    assert runs["run"].tolist() == ["007", "7", "1e3"] and runs["dataset"].tolist() == ["1"] * 3
    mapped = tmp_path / "mapped.csv"
    mapped.write_text("Run ID,params,tokens,loss\n007,1e7,2e8,3.1\n")
    assert read_runs(mapped, columns={"run": "Run ID"})["run"].tolist() == ["007"]
    assert read_runs(GOOD.assign(run=[1, 2, 3]))["run"].tolist() == ["1", "2", "3"]     # labels, whatever their type


def test_errors_give_a_filtered_tables_index_label():
    bad = GOOD.copy()
    bad.index = [10, 20, 30]
    bad.loc[20, "loss"] = -1.0
    with pytest.raises(InputError, match=r"row 1 \(index 20\)"):
        read_runs(bad)


def test_replicates_and_mixtures_are_not_duplicates():
    """Without a run column, rows at one (N, D) that measured different losses are seeds, kept; different
    mixtures at one (N, D) are different runs; only a row repeated loss and all is a duplicate."""
    seeds = pd.concat([GOOD, GOOD.assign(loss=GOOD["loss"] + 0.01)], ignore_index=True)
    assert len(read_runs(seeds)) == 6
    mixes = pd.DataFrame({"params": 1e7, "tokens": 2e8, "dataset": "val", "loss": [3.0, 3.1],
                          "mix.a": [0.2, 0.7], "mix.b": [0.8, 0.3]})
    assert len(read_runs(mixes)) == 2
    with pytest.raises(InputError, match="row 3 duplicates"):
        read_runs(pd.concat([GOOD, GOOD], ignore_index=True))
    logged = pd.DataFrame({"run": "a", "step": [1, 1, 2], "params": 1e7, "tokens": [2e8, 2e8, 4e8],
                           "loss": [3.1, 3.0, 2.9]})                  # one run, one step, logged twice
    with pytest.raises(InputError, match=r"row 1 \(run 'a', step 1\) duplicates"):
        read_runs(logged)


def test_a_mapping_onto_an_existing_column_wins_and_says_so():
    export = GOOD.assign(**{"eval/loss": [3.3, 3.2, 3.1]})        # a W&B export: train loss and eval loss
    with pytest.warns(UserWarning, match="own 'loss' column is set aside"):
        runs = read_runs(export, columns={"loss": "eval/loss"})
    assert runs["loss"].tolist() == [3.3, 3.2, 3.1] and "eval/loss" not in runs


def test_rows_to_predict_may_have_no_loss_yet():
    rows = GOOD.assign(loss=[3.1, np.nan, 2.9])
    assert read_runs(rows, unmeasured=True)["loss"].isna().sum() == 1
    with pytest.raises(InputError, match="loss.*row 1"):
        read_runs(rows)
    with pytest.raises(InputError, match="loss.*row 0"):                # a given loss is still checked
        read_runs(rows.assign(loss=[-3.0, np.nan, 2.9]), unmeasured=True)


def test_losses_in_bits_or_per_byte_are_converted_when_their_unit_is_named():
    nats = GOOD["loss"].to_numpy()
    bits = GOOD.assign(loss=nats / np.log(2))
    np.testing.assert_allclose(read_runs(bits, loss_unit="bits")["loss"], nats)
    per_byte = GOOD.assign(loss=nats / np.log(2) / 3.7)
    np.testing.assert_allclose(read_runs(per_byte, loss_unit="bits_per_byte", bytes_per_token=3.7)["loss"], nats)
    np.testing.assert_allclose(read_runs(GOOD.assign(loss=nats / 3.7), loss_unit="nats_per_byte",
                                         bytes_per_token=3.7)["loss"], nats)
    with pytest.raises(InputError, match="bytes per token"):
        read_runs(per_byte, loss_unit="bits_per_byte")                  # never guessed
    with pytest.raises(InputError, match="per-byte loss unit"):
        read_runs(GOOD, bytes_per_token=4.0)
    with pytest.raises(InputError, match="choose one of"):
        read_runs(GOOD, loss_unit="bpb")
