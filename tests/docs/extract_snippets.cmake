# extract_snippets.cmake: every ```cpp block of the documentation becomes compiled code.
#
#   nabla_extract_doc_snippets(
#     SOURCE_DIR <repo root> OUTPUT_DIR <dir> PAGES <page.md>...
#     [CONTEXT_DIR <dir>] [DECLARATION_PAGES <page.md>...]
#     SOURCES_VARIABLE <var> PROGRAM_SOURCES_VARIABLE <var> SUMMARY_FILE <file>)
#
# Runs at configure time (the pages are CMAKE_CONFIGURE_DEPENDS, so editing one reconfigures)
# and writes one <page>.cpp per page, plus one <page>.<line>.cpp per whole program. A block is:
#   - a program if it contains `int main(`: compiled as it stands, as its own translation unit;
#   - declarations if its info string is `cpp fragment-decl`, if the comment right before it is
#     <!-- snippet: declarations -->, if its first line of code starts with `template <` (which
#     no function body may hold), or if its page is one of DECLARATION_PAGES: compiled at
#     namespace scope, in `namespace docs_snippet_<line> { using namespace nabla; ... }` (so code
#     quoted from the library reads as it does there);
#   - skipped if the comment right before it is <!-- snippet: skip (reason) --> (pseudocode,
#     CUDA device code, ...); the reason is required, and the summary lists every skipped block;
#   - otherwise a fragment: the body of `void docs_snippet_<line>() { namespace nb = nabla; ... }`.
# Every page's file starts with #include <nabla/nabla.hpp> and `namespace nb = nabla;`; #include
# lines of fragments and declarations move to the top. Names a block uses without declaring come
# from a prelude: <!-- snippet-prelude: code --> right before the block (one line, or the code on
# the lines up to -->), inserted before the block in the same scope, or the page's context header
# CONTEXT_DIR/<page name without .md>.hpp (namespace scope, included after the alias), for names
# that several blocks share or for pages whose text must stay as it is. Comments right before a
# block may come in any order; other HTML comments (e.g. <!-- snippet: tour -->, the markers of
# tests/test_io.cpp) are ignored. #line directives make compiler errors point into the page.
# A configure error names the page and line of a malformed directive.

function(_nabla_docs_write_if_changed path content)
  if(EXISTS "${path}")
    file(READ "${path}" old)
    if(old STREQUAL content)
      return()
    endif()
  endif()
  file(WRITE "${path}" "${content}")
endfunction()

# The text of one line or block as it goes into the generated C++ (placeholders undone).
function(_nabla_docs_restore out text)
  string(REPLACE "@nabla_semicolon@" ";" text "${text}")
  string(REPLACE "@nabla_backslash@" "\\" text "${text}")
  string(REPLACE "@nabla_open_bracket@" "[" text "${text}")
  string(REPLACE "@nabla_close_bracket@" "]" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

function(nabla_extract_doc_snippets)
  cmake_parse_arguments(PARSE_ARGV 0 arg ""
    "SOURCE_DIR;OUTPUT_DIR;CONTEXT_DIR;SOURCES_VARIABLE;PROGRAM_SOURCES_VARIABLE;SUMMARY_FILE"
    "PAGES;DECLARATION_PAGES")
  file(MAKE_DIRECTORY "${arg_OUTPUT_DIR}")
  set(sources)
  set(program_sources)
  set(summary "")
  set(total 0)
  set(total_programs 0)
  set(total_fragments 0)
  set(total_declarations 0)
  set(total_skipped 0)
  set(skipped_list "")

  foreach(page IN LISTS arg_PAGES)
    set(page_path "${arg_SOURCE_DIR}/${page}")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${page_path}")
    file(READ "${page_path}" content)
    # Protect what CMake lists would split on or unescape, then one list element per line.
    string(REPLACE "\\" "@nabla_backslash@" content "${content}")
    string(REPLACE ";" "@nabla_semicolon@" content "${content}")
    string(REPLACE "[" "@nabla_open_bracket@" content "${content}")
    string(REPLACE "]" "@nabla_close_bracket@" content "${content}")
    string(REPLACE "\n" ";" lines "${content}")

    get_filename_component(page_name "${page}" NAME_WE)
    string(MAKE_C_IDENTIFIER "${page_name}" page_id)
    set(declaration_page OFF)
    if(page IN_LIST arg_DECLARATION_PAGES)
      set(declaration_page ON)
    endif()

    set(includes "")
    set(body "")
    set(state text)          # text | code (a ```cpp block) | other (another fence) | prelude
    set(line_number 0)
    set(pending_kind "")     # from <!-- snippet: ... -->
    set(pending_reason "")
    set(pending_prelude "")
    set(pending_line 0)
    set(prelude_line 0)
    set(page_programs 0)
    set(page_fragments 0)
    set(page_declarations 0)
    set(page_skipped 0)

    foreach(line IN LISTS lines)
      math(EXPR line_number "${line_number} + 1")
      if(state STREQUAL "prelude")
        if(line MATCHES "^(.*)-->[ \t]*$")
          string(APPEND pending_prelude "${CMAKE_MATCH_1}\n")
          set(state text)
        else()
          string(APPEND pending_prelude "${line}\n")
        endif()
      elseif(state STREQUAL "other")
        if(line MATCHES "^ ? ? ?```[ \t]*$")
          set(state text)
        endif()
      elseif(state STREQUAL "code")
        if(line MATCHES "^ ? ? ?```[ \t]*$")
          # The block is complete: classify it and emit it.
          math(EXPR total "${total} + 1")
          set(where "${page}:${block_line}")
          if(pending_kind STREQUAL "skip")
            math(EXPR page_skipped "${page_skipped} + 1")
            string(APPEND skipped_list "  ${where}: ${pending_reason}\n")
          elseif(block MATCHES "int main\\(")
            math(EXPR page_programs "${page_programs} + 1")
            set(program_file "${arg_OUTPUT_DIR}/${page_name}.${block_line}.cpp")
            math(EXPR first_line "${block_line} + 1")
            _nabla_docs_restore(text "${block}")
            _nabla_docs_write_if_changed("${program_file}"
              "// Generated by tests/docs/extract_snippets.cmake from ${where} (a program): do not edit.\n#line ${first_line} \"${page_path}\"\n${text}")
            list(APPEND program_sources "${program_file}")
          else()
            # #include lines go to the top of the page's file.
            set(code "")
            string(REPLACE "\n" ";" block_lines "${block}")
            set(code_line ${block_line})
            foreach(block_line_text IN LISTS block_lines)
              math(EXPR code_line "${code_line} + 1")
              if(block_line_text MATCHES "^[ \t]*#[ \t]*include")
                string(APPEND includes "${block_line_text}\n")
                string(APPEND code "\n")  # keeps the #line numbering
              else()
                string(APPEND code "${block_line_text}\n")
              endif()
            endforeach()
            math(EXPR first_line "${block_line} + 1")
            set(prelude_text "")
            if(NOT pending_prelude STREQUAL "")
              set(prelude_text "#line ${prelude_line} \"${page_path}\"\n${pending_prelude}")
            endif()
            # A template cannot be declared in a function body: such a block is declarations.
            set(starts_with_template OFF)
            foreach(block_line_text IN LISTS block_lines)
              if(block_line_text MATCHES "^[ \t]*(//.*)?$")
                continue()
              endif()
              if(block_line_text MATCHES "^[ \t]*template[ \t]*<")
                set(starts_with_template ON)
              endif()
              break()
            endforeach()
            if(pending_kind STREQUAL "declarations" OR block_info MATCHES "fragment-decl" OR declaration_page
               OR starts_with_template)
              math(EXPR page_declarations "${page_declarations} + 1")
              string(APPEND body "\n// ${where} (declarations)\nnamespace docs_snippet_${block_line} {\nusing namespace nabla@nabla_semicolon@\n"
                "${prelude_text}#line ${first_line} \"${page_path}\"\n${code}}  // namespace docs_snippet_${block_line}\n")
            else()
              math(EXPR page_fragments "${page_fragments} + 1")
              string(APPEND body "\n// ${where} (fragment)\nvoid docs_snippet_${block_line}() {\nnamespace nb = nabla@nabla_semicolon@\n"
                "${prelude_text}#line ${first_line} \"${page_path}\"\n${code}}\n")
            endif()
          endif()
          set(state text)
          set(pending_kind "")
          set(pending_reason "")
          set(pending_prelude "")
        else()
          string(APPEND block "${line}\n")
        endif()
      else()  # text
        if(line MATCHES "^ ? ? ?```[ \t]*([^ \t`]*)(.*)$")
          if(CMAKE_MATCH_1 STREQUAL "cpp")
            set(state code)
            set(block "")
            set(block_line ${line_number})
            set(block_info "${CMAKE_MATCH_2}")
          else()
            if(NOT pending_kind STREQUAL "" OR NOT pending_prelude STREQUAL "")
              message(FATAL_ERROR "${page}:${pending_line}: a snippet comment must come right before a ```cpp block")
            endif()
            set(state other)
          endif()
        elseif(line MATCHES "^ ? ? ?<!-- snippet: skip(.*)-->[ \t]*$")
          string(STRIP "${CMAKE_MATCH_1}" reason)
          if(NOT reason MATCHES "^\\(.+\\)$")
            message(FATAL_ERROR "${page}:${line_number}: <!-- snippet: skip (reason) --> needs a reason in parentheses")
          endif()
          _nabla_docs_restore(pending_reason "${reason}")
          set(pending_kind skip)
          set(pending_line ${line_number})
        elseif(line MATCHES "^ ? ? ?<!-- snippet: declarations[ \t]*-->[ \t]*$")
          set(pending_kind declarations)
          set(pending_line ${line_number})
        elseif(line MATCHES "^<!-- snippet-prelude:(.*)-->[ \t]*$")
          string(APPEND pending_prelude "${CMAKE_MATCH_1}\n")
          set(pending_line ${line_number})
          set(prelude_line ${line_number})
        elseif(line MATCHES "^<!-- snippet-prelude:(.*)$")
          string(APPEND pending_prelude "${CMAKE_MATCH_1}\n")
          set(pending_line ${line_number})
          set(prelude_line ${line_number})
          set(state prelude)
        elseif(line MATCHES "^<!--.*-->[ \t]*$" OR line MATCHES "^[ \t]*$")
          # Another comment, or a blank line: the pending directives still apply.
        elseif(NOT pending_kind STREQUAL "" OR NOT pending_prelude STREQUAL "")
          message(FATAL_ERROR "${page}:${pending_line}: a snippet comment must come right before a ```cpp block")
        endif()
      endif()
    endforeach()
    if(state STREQUAL "code")
      message(FATAL_ERROR "${page}:${block_line}: the ```cpp block is never closed")
    elseif(state STREQUAL "prelude")
      message(FATAL_ERROR "${page}:${prelude_line}: the snippet-prelude comment is never closed")
    endif()

    math(EXPR page_total "${page_programs} + ${page_fragments} + ${page_declarations} + ${page_skipped}")
    if(page_total GREATER 0)
      string(APPEND summary "  ${page}: ${page_total} (${page_programs} programs, ${page_fragments} fragments, "
        "${page_declarations} declarations, ${page_skipped} skipped)\n")
    endif()
    math(EXPR total_programs "${total_programs} + ${page_programs}")
    math(EXPR total_fragments "${total_fragments} + ${page_fragments}")
    math(EXPR total_declarations "${total_declarations} + ${page_declarations}")
    math(EXPR total_skipped "${total_skipped} + ${page_skipped}")

    if(page_fragments GREATER 0 OR page_declarations GREATER 0)
      set(context "")
      if(arg_CONTEXT_DIR AND EXISTS "${arg_CONTEXT_DIR}/${page_name}.hpp")
        set(context "#include \"${arg_CONTEXT_DIR}/${page_name}.hpp\"  // names the page's blocks use\n")
        set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${arg_CONTEXT_DIR}/${page_name}.hpp")
      endif()
      string(CONCAT text "// Generated by tests/docs/extract_snippets.cmake from ${page}: do not edit.\n"
        "// Each ```cpp block of the page, at the line given, as a fragment (a function body) or\n"
        "// as declarations (a namespace); programs are compiled in files of their own.\n"
        "#include <nabla/nabla.hpp>\n${includes}\nnamespace nb = nabla@nabla_semicolon@\n${context}${body}")
      _nabla_docs_restore(text "${text}")
      set(page_file "${arg_OUTPUT_DIR}/${page_name}.cpp")
      _nabla_docs_write_if_changed("${page_file}" "${text}")
      list(APPEND sources "${page_file}")
    endif()
  endforeach()

  string(PREPEND summary "docs snippets: ${total} ```cpp blocks: ${total_programs} programs, ${total_fragments} fragments, "
    "${total_declarations} declarations, ${total_skipped} skipped\n")
  if(total_skipped GREATER 0)
    string(APPEND summary "skipped:\n${skipped_list}")
  endif()
  _nabla_docs_write_if_changed("${arg_SUMMARY_FILE}" "${summary}")
  set(${arg_SOURCES_VARIABLE} "${sources}" PARENT_SCOPE)
  set(${arg_PROGRAM_SOURCES_VARIABLE} "${program_sources}" PARENT_SCOPE)
endfunction()
