#pragma once

namespace shardd {

// Plants the fault named by $SHARDD_TEST_FAULT (see test_faults.cpp). Only
// compiled with -DSHARDD_TEST_FAULTS=ON.
void plant_test_fault_from_env();

}  // namespace shardd
