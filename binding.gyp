# The CPU backend addon: generic sources plus one static library per ISA build (each with its own target flags, so
# the dispatcher can pick at run time). Built by `npm install` through native/build.mjs; failure is not fatal.
{
  'target_defaults': {
    'cflags!': ['-fno-exceptions'],
    'cflags_cc!': ['-fno-exceptions', '-std=gnu++17', '-std=gnu++20'],
    'cflags_cc': ['-std=c++17', '-fexceptions', '-O3', '-fno-math-errno', '-ffp-contract=off'],
    'cflags': ['-O3'],
    'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")", 'native'],
    'defines': ['NAPI_VERSION=8', 'NODE_ADDON_API_DISABLE_DEPRECATED'],
    'xcode_settings': {'GCC_ENABLE_CPP_EXCEPTIONS': 'YES', 'CLANG_CXX_LANGUAGE_STANDARD': 'c++17'},
  },
  'targets': [
    {
      'target_name': 'qv_avx2',
      'type': 'static_library',
      'conditions': [['target_arch=="x64"', {
        'sources': ['native/isa_avx2.cc'],
        'cflags_cc': ['-mavx2', '-mfma', '-mf16c'],
      }]],
    },
    {
      'target_name': 'qv_avx512',
      'type': 'static_library',
      'conditions': [['target_arch=="x64"', {
        'sources': ['native/isa_avx512.cc'],
        'cflags_cc': ['-mavx2', '-mfma', '-mf16c', '-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512dq', '-mavx512vnni', '-Wno-maybe-uninitialized'],
      }]],
    },
    {
      'target_name': 'qwen3vl_cpu',
      'dependencies': ['qv_avx2', 'qv_avx512'],
      'sources': ['native/addon.cc', 'native/addon_ops.cc', 'native/engine.cc', 'native/isa.cc', 'native/isa_generic.cc', 'native/isa_none.cc'],
      'libraries': [],
      'ldflags': ['-pthread'],
      'cflags_cc': ['-pthread'],
    },
  ],
}
