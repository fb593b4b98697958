"""Qualified-name extraction finds every kind of definition an innovation can be anchored to."""

from replay.records.definitions import defined_names

SOURCE = """
import torch
x, (y, z) = 1, (2, 3)
if True:
    flag = 1
class Hyperparameters:
    lr: float = 0.1
    steps = 10
class Muon(torch.optim.Optimizer):
    def step(self):
        local_var = 1
        def inner():
            pass
def main():
    hidden = 2
for step in range(3):
    training_time_ms = 0
with open("f") as handle:
    pass
"""


def test_defined_names_cover_classes_methods_fields_and_module_variables():
    names = defined_names(SOURCE)
    assert {
        "x",
        "y",
        "z",
        "flag",
        "Hyperparameters",
        "Hyperparameters.lr",
        "Hyperparameters.steps",
        "Muon",
        "Muon.step",
        "Muon.step.inner",
        "main",
        "step",
        "training_time_ms",
        "handle",
    } <= names
    assert "local_var" not in names and "hidden" not in names and "Muon.step.local_var" not in names
