# The whole GPU check in one device call (about 6-7 minutes of work on an H200): precision-fast kernel tests (both
# operand paths), the fast-kernel sweep, 2B/4B/8B in fast mode, the fixture error, 30B-A3B (bf16) and 235B-A22B
# (q4_0), the exact op harness and parity, 2B/4B/8B exact. build-device.mjs copies it into the stage dir; run
# `bash <stage>/device-run.sh` from the checkout's root (DEVICE_KIT: the .device-kit folder, default ./.device-kit).
# Logs and JSON under $OUT (8 files).
stage=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kit=${DEVICE_KIT:-$PWD/.device-kit}
source "$kit/enter.sh" >/dev/null 2>&1
source "$stage/run.sh"
cd "$stage/js"
t0=$(date +%s)
L=$OUT/logs.txt
step() { echo "=== $1 ($(( $(date +%s) - t0 )) s)" | tee -a $L; }
clean() { grep -v "deprecated builtin\|^ *\^\|subgroupMatrix\|^$" ; }
step fast-tests; timeout 60 node run-tests.mjs fast 2>&1 | clean > $OUT/tests.txt; echo "rc=${PIPESTATUS[0]}" >> $OUT/tests.txt; grep -c "^ok" $OUT/tests.txt; grep "^FAIL\|==\|rc=" $OUT/tests.txt | head
step sweep; timeout 75 node bench.mjs --models 2B --precision fast --kernels-only --fast-choice /tmp/choice.json --json $OUT/sweep.json 2>&1 | clean >> $L
[ -f /tmp/choice.json ] || echo '{"matmul":"direct","tile":[2,2,4,4],"attn":"direct"}' > /tmp/choice.json; cat /tmp/choice.json
grep "fast {" $L | cut -c1-300
step fast-models; timeout 110 node bench.mjs --models 2B,4B,8B --precision fast --fast-choice /tmp/choice.json --decode-reps 3 --json $OUT/fast.json 2>&1 | clean >> $L; grep "^| 2B\|^| 4B\|^| 8B\|failed" $L
step fast-error; timeout 40 node fast-error.mjs --fast-choice /tmp/choice.json 2>&1 | clean | grep "^|" > $OUT/error.txt; cat $OUT/error.txt
step moe30; timeout 70 node bench.mjs --models 30B-A3B --precision fast --fast-choice /tmp/choice.json --sides 448 --decode-reps 2 --json $OUT/moe30.json 2>&1 | clean >> $L; grep "30B.*random weights\|^| 30B\|30B.*failed" $L
step moe235; nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader; timeout 90 node bench.mjs --models 235B-A22B --quant q4_0 --precision fast --fast-choice /tmp/choice.json --sides 448 --decode-reps 1 --decode 8 --json $OUT/moe235.json 2>&1 | clean >> $L; echo "rc=${PIPESTATUS[0]}" >> $L; grep "235B.*random weights\|^| 235B\|235B.*failed\|rc=" $L | cut -c1-300
step exact-tests; timeout 70 node run-tests.mjs ops parity 2>&1 | clean | grep -v "^ok" >> $OUT/tests.txt; tail -4 $OUT/tests.txt
step exact-models; timeout 80 node bench.mjs --models 2B,4B,8B --decode-reps 2 --json $OUT/exact.json 2>&1 | clean >> $L; grep "^| 2B \|^| 4B \|^| 8B \|failed" $L | grep -v fast
step done
