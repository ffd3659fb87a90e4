#!/usr/bin/python3
"""Sums test reports (gtest JSON, pytest JUnit XML) into one line: N passed, N failed.

Usage: summarize.py REPORT_DIR
Prints one line per suite, then the total; exits 1 when anything failed, a
suite left no report (it crashed before writing one), or a suite whose tests
all passed still exited non-zero (marked by a REPORT.exit file).
"""
import json
import pathlib
import sys
import xml.etree.ElementTree as ET


def main():
    d = pathlib.Path(sys.argv[1])
    passed = failed = skipped = 0
    missing = [p.stem for p in d.glob("*.expected") if not (d / (p.stem + ".json")).exists()
               and not (d / (p.stem + ".xml")).exists()]
    for f in sorted(d.glob("*.json")):
        r = json.loads(f.read_text())
        n, fail, dis = r.get("tests", 0), r.get("failures", 0), r.get("disabled", 0)
        sk = sum(1 for s in r.get("testsuites", []) for t in s.get("testsuite", [])
                 if t.get("result") == "SKIPPED")
        print("  %-28s %4d passed, %d failed" % (f.stem, n - fail - sk, fail))
        passed += n - fail - sk
        failed += fail
        skipped += sk + dis
        if fail == 0 and (d / (f.stem + ".exit")).exists():
            # every test passed, yet the program failed afterwards (a sanitizer
            # report at exit, a crash in teardown)
            print("  %-28s exited non-zero after its report" % f.stem)
            failed += 1
    for f in sorted(d.glob("*.xml")):
        root = ET.parse(f).getroot()
        suites = [root] if root.tag == "testsuite" else list(root)
        for s in suites:
            n = int(s.get("tests", 0))
            fail = int(s.get("failures", 0)) + int(s.get("errors", 0))
            sk = int(s.get("skipped", 0))
            print("  %-28s %4d passed, %d failed" % (f.stem, n - fail - sk, fail))
            passed += n - fail - sk
            failed += fail
            skipped += sk
    for m in missing:
        print("  %-28s crashed: no report" % m)
        failed += 1
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
