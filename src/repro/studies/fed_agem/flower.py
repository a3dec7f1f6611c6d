"""The Flower executor: the same client and server calls as federation.py, as a Flower ServerApp / ClientApp
(Message API) run by Flower's simulation engine (Ray).

Each round the server sends a TRAIN message (global model, reference gradient, round numbers) to every node and
averages the replies; with Fed-A-GEM it then sends a QUERY message (the new global model) and averages the buffer
gradients the clients send back: the reference gradient travels in the round's records. A client's buffer
lives in its Flower `context.state`, as it would on a real device. Ray's start-up and the message round trips
cost about 20x the in-process run at small scale (measured: 22.7 s against 1.1 s), so the study's default is local.

For real clients on many machines, the same two apps run under `flower-superlink` / `flower-supernode` (one
supernode per device, each with its own data partition); only `run_simulation` below changes.
"""

from __future__ import annotations

import time

import torch

from repro.models.classifier import build
from repro.studies.fed_agem.algorithm import ClientStats, Method, Reservoir
from repro.studies.fed_agem.data import Scenario
from repro.studies.fed_agem.federation import client_query, client_train, drive


BUFFER_KEY = "fed_agem.buffer"  # the client's reservoir in its Flower context.state


def run(scenario: Scenario, method: Method, hp: dict, seed: int, model_cfg: dict, progress=None,
        cpus: int = 1):
    """One continual federated run on Flower's simulation engine; returns what `drive` returns."""
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.simulation import run_simulation

    n_clients = len(scenario.tasks[0].client_x)
    shape, n_classes = scenario.input_shape, scenario.n_classes
    client_app, server_app, out = ClientApp(), ServerApp(), {}

    def load_buffer(context) -> Reservoir:
        state = (context.state[BUFFER_KEY].to_torch_state_dict() if BUFFER_KEY in context.state.array_records
                 else {"n_seen": 0})
        return Reservoir.from_state(hp["buffer_size"], state)

    def client_model():
        torch.set_num_threads(1)
        return build(model_cfg, shape, n_classes)

    @client_app.train()
    def train(msg: Message, context: Context):
        k = int(context.node_config["partition-id"])
        c = msg.content["config"]
        vec = msg.content["global"].to_torch_state_dict()["vec"]
        ref = msg.content["ref"].to_torch_state_dict()["vec"] if "ref" in msg.content.array_records else None
        buffer = load_buffer(context)
        new, n, st = client_train(client_model(), scenario, k, int(c["task"]), int(c["round"]),
                                  int(c["round_in_task"]), vec, ref, buffer, method, hp, seed)
        context.state[BUFFER_KEY] = ArrayRecord(buffer.state())
        return Message(RecordDict({"local": ArrayRecord({"vec": new}),
                                   "stats": MetricRecord({"k": k, "n": n, "steps": st.steps,
                                                          "triggered": st.triggered,
                                                          "max_residual": st.max_residual})}), reply_to=msg)

    @client_app.query()
    def query(msg: Message, context: Context):
        k = int(context.node_config["partition-id"])
        vec = msg.content["global"].to_torch_state_dict()["vec"]
        g = client_query(client_model(), vec, load_buffer(context), hp, seed, int(msg.content["config"]["round"]), k)
        content = {"meta": MetricRecord({"k": k, "empty": int(g is None)})}
        if g is not None:
            content["grad"] = ArrayRecord({"vec": g})
        return Message(RecordDict(content), reply_to=msg)

    class FlowerClients:
        def __init__(self, grid: Grid):
            self.grid, self.nodes = grid, []
            deadline = time.time() + 120
            while len(self.nodes) < n_clients:  # supernodes register a moment after the run starts
                if time.time() > deadline:
                    raise RuntimeError(f"only {len(self.nodes)} of {n_clients} Flower supernodes registered")
                self.nodes = sorted(grid.get_node_ids())
                time.sleep(0.05)

        def _send(self, kind, content):
            msgs = [Message(RecordDict(content), dst_node_id=n, message_type=kind) for n in self.nodes]
            replies = list(self.grid.send_and_receive(msgs))
            bad = [m.error for m in replies if m.has_error()]
            if bad:
                raise RuntimeError(f"Flower client failed: {bad[0]}")
            return replies

        def train(self, task, rnd, round_in_task, vec, ref):
            content = {"global": ArrayRecord({"vec": vec}),
                       "config": ConfigRecord({"task": task, "round": rnd, "round_in_task": round_in_task})}
            if ref is not None:
                content["ref"] = ArrayRecord({"vec": ref})
            replies = self._send(MessageType.TRAIN, content)
            res = []
            for m in sorted(replies, key=lambda m: int(m.content["stats"]["k"])):  # aggregate in client order
                s = m.content["stats"]
                res.append((m.content["local"].to_torch_state_dict()["vec"], int(s["n"]),
                            ClientStats(int(s["steps"]), int(s["triggered"]), float(s["max_residual"]))))
            return res

        def query(self, rnd, vec):
            replies = self._send(MessageType.QUERY, {"global": ArrayRecord({"vec": vec}),
                                                     "config": ConfigRecord({"round": rnd})})
            replies = sorted(replies, key=lambda m: int(m.content["meta"]["k"]))
            return [None if int(m.content["meta"]["empty"]) else m.content["grad"].to_torch_state_dict()["vec"]
                    for m in replies]

    @server_app.main()
    def main(grid: Grid, context: Context):
        torch.manual_seed(seed)
        model = build(model_cfg, shape, n_classes)
        out["result"] = drive(scenario, method, hp, seed, FlowerClients(grid), model, progress)

    run_simulation(server_app, client_app, num_supernodes=n_clients,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"num_cpus": cpus, "include_dashboard": False,
                                                 "log_to_driver": False}})
    if "result" not in out:
        raise RuntimeError("the Flower simulation ended without a result (see the log above)")
    return out["result"]
