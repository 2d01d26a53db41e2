from tests.workflows.conftest import Driver
from tests.workflows.fakes import FakeBosun, application, deployment, service, key


async def test_probe(bosun: Driver, world: FakeBosun) -> None:
    a = world.git.push(deployment("web"), service("web"))
    app = await bosun.start(application("probe1"))
    st = await app.settled()
    print(st.model_dump_json(indent=1))
    print(await app.history())
    print(world.cluster.applied)
    h = await app.handle.fetch_history()
    print(len(h.events))
    st2 = await app.tick()
    print(st2.reconciled_at, st.reconciled_at)
    h = await app.handle.fetch_history()
    print(len(h.events))
