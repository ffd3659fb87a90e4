"""Two versions of one function, as in seed 002 (Fn + Istio): each answers
with its version so a caller sees where the route sent it."""


def v1(request):
    return {"message": "Hello V1"}


def v2(request):
    return {"message": "Hello V2"}
