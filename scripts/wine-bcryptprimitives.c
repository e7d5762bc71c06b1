/* Wine 8 has no bcryptprimitives.dll, whose ProcessPrng Rust's standard library loads
 * for randomness on Windows. This stand-in answers it from advapi32's
 * SystemFunction036 (RtlGenRandom), which Wine has. Built by scripts/cross-check and
 * placed beside the Windows binary under test; never shipped. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
