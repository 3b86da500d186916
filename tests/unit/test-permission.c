#include "tests/unit/test-util.h"
int main(void) { return 77; }
