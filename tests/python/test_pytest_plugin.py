"""ofn.pytest_plugin's fixture, used the way a user's tests use it: each
test gets a fresh platform on a manual clock."""


def hello_function(name="hello"):
    return {"apiVersion": "core.openfunction.io/v1beta2", "kind": "Function", "metadata": {"name": name},
            "spec": {"version": "v1.0.0", "image": "ofn.local/%s:latest" % name,
                     "serving": {"template": {"containers": [{"name": "function"}]},
                                 "triggers": {"http": {"port": 8080}}}}}


def test_a_rollout_and_scale_to_zero_in_milliseconds(ofn_platform):
    @ofn_platform.function("hello")
    def hello(request):
        return "hi %s" % request.args.get("who", "there")

    ofn_platform.apply(hello_function())
    ofn_platform.wait_ready("hello")
    assert ofn_platform.invoke("hello", path="/?who=test").text == "hi test"
    ofn_platform.clock.advance(seconds=120)
    assert ofn_platform.revisions("hello")[0]["ready_instances"] == 0


def test_each_test_starts_empty(ofn_platform):
    assert ofn_platform.list() == []
    assert ofn_platform.clock.manual
