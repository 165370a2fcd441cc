// glibc's allocator statistics and trimming (mallinfo2, malloc_trim); Swift's Glibc module omits malloc.h.
#include <malloc.h>
