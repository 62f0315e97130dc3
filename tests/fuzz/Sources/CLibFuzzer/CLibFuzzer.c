// Only the declaration in include/CLibFuzzer.h matters; SwiftPM wants a source file in every C target.
#include "CLibFuzzer.h"
