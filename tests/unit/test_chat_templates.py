"""Chat templates as models ship them: no system role (Gemma 2 refuses it, Gemma 3 merges it),
a template that silently ignores it, no template at all, and Llama 3's several end-of-turn ids.

The templates are the real ones, set on a shallow copy of the SmolLM2 tokenizer (its own
``chat_template`` attribute; the cached tokenizer is never changed). Gemma's turn markers
are not tokens of that vocabulary, which does not matter here: the text is what is checked.
"""

from __future__ import annotations

import copy
import json
import threading

import pytest

from tests.models import save_tiny_folder, smol_tokenizer
from workbench.engine import prompts
from workbench.engine.errors import PromptError
from workbench.engine.prompts import chat_prompt, system_notice, system_support, template_end_of_turn_ids

# google/gemma-2-2b-it, as shipped
GEMMA2 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)
# google/gemma-3-1b-it, as shipped
GEMMA3 = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}"""
# meta-llama/Meta-Llama-3-8B-Instruct, as shipped
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
# a template that renders without complaint and simply leaves system messages out
IGNORES_SYSTEM = (
    "{% for m in messages %}{% if m['role'] != 'system' %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# and one that shows only the last message: the system text is lost even when merged
LAST_ONLY = "{{ messages[-1]['content'] }}{% if add_generation_prompt %} Answer:{% endif %}"

PIRATE = [{"role": "system", "content": "Talk like a pirate."}, {"role": "user", "content": "Hi there"}]
BOS = "<|im_start|>"  # SmolLM2's bos_token, which the Gemma and Llama templates write first
GEMMA_MERGED = (
    f"{BOS}<start_of_turn>user\nTalk like a pirate.\n\nHi there<end_of_turn>\n<start_of_turn>model\n"
)


def with_template(template: str | None):
    tokenizer = copy.copy(smol_tokenizer())  # shallow: only this copy's chat_template changes
    tokenizer.chat_template = template
    return tokenizer


def assert_ids_match(tokenizer, prompt, add_special_tokens=False):
    assert list(prompt.ids) == tokenizer.encode(prompt.text, add_special_tokens=add_special_tokens)


def test_gemma2_refuses_a_system_message_so_it_is_merged_into_the_first_user_message():
    tokenizer = with_template(GEMMA2)
    with pytest.raises(Exception, match="System role not supported"):  # what the template itself does
        tokenizer.apply_chat_template(PIRATE, tokenize=False, add_generation_prompt=True)
    assert system_support(tokenizer) == (prompts.REFUSED, "System role not supported")
    prompt = chat_prompt(tokenizer, PIRATE)
    assert prompt.text == GEMMA_MERGED
    assert prompt.system == prompts.REFUSED
    assert prompt.notice == (
        "this model's chat template refuses a system message (“System role not supported”): "
        "the system prompt was put at the start of the first user message instead"
    )
    assert_ids_match(tokenizer, prompt)
    # later turns: only the first user message carries it, and the roles still alternate
    longer = [*PIRATE, {"role": "assistant", "content": "Arr"}, {"role": "user", "content": "More"}]
    text = chat_prompt(tokenizer, longer).text
    assert text == (
        f"{BOS}<start_of_turn>user\nTalk like a pirate.\n\nHi there<end_of_turn>\n"
        "<start_of_turn>model\nArr<end_of_turn>\n<start_of_turn>user\nMore<end_of_turn>\n<start_of_turn>model\n"
    )


def test_gemma3_merges_the_system_text_itself_and_the_notice_says_so():
    tokenizer = with_template(GEMMA3)
    assert system_support(tokenizer) == (prompts.MERGED, None)
    prompt = chat_prompt(tokenizer, PIRATE)
    # exactly what the template renders on its own, and the same text our Gemma 2 merge gives
    assert prompt.text == tokenizer.apply_chat_template(PIRATE, tokenize=False, add_generation_prompt=True)
    assert prompt.text == GEMMA_MERGED
    assert prompt.system == prompts.MERGED
    assert prompt.notice == prompts.MERGED_NOTICE
    assert "start of the first user message" in prompt.notice
    assert_ids_match(tokenizer, prompt)


def test_a_template_that_ignores_the_system_message_is_caught_and_merged():
    tokenizer = with_template(IGNORES_SYSTEM)
    rendered = tokenizer.apply_chat_template(PIRATE, tokenize=False, add_generation_prompt=True)
    assert "pirate" not in rendered  # the template really does drop it without a word
    assert system_support(tokenizer) == (prompts.DROPPED, None)
    prompt = chat_prompt(tokenizer, PIRATE)
    assert (
        prompt.text == "<|im_start|>user\nTalk like a pirate.\n\nHi there<|im_end|>\n<|im_start|>assistant\n"
    )
    assert prompt.system == prompts.DROPPED
    assert prompt.notice == prompts.DROPPED_NOTICE


def test_a_system_prompt_the_template_loses_even_merged_gets_a_notice():
    tokenizer = with_template(LAST_ONLY)
    messages = [*PIRATE, {"role": "assistant", "content": "Arr"}, {"role": "user", "content": "More"}]
    prompt = chat_prompt(tokenizer, messages)
    assert prompt.text == "More Answer:"
    assert prompt.system == "lost"
    assert prompt.notice == prompts.LOST_NOTICE


def test_templates_with_a_system_role_pass_it_through_without_a_notice():
    smol = chat_prompt(with_template(smol_tokenizer().chat_template), PIRATE)
    assert smol.text == (
        "<|im_start|>system\nTalk like a pirate.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert (smol.system, smol.notice) == (prompts.NATIVE, None)
    llama = chat_prompt(with_template(LLAMA3), PIRATE)
    assert llama.text == (
        f"{BOS}<|start_header_id|>system<|end_header_id|>\n\nTalk like a pirate.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert (llama.system, llama.notice) == (prompts.NATIVE, None)


def test_without_a_system_prompt_nothing_is_merged_and_nothing_is_said():
    tokenizer = with_template(GEMMA2)
    for messages in ([PIRATE[1]], [{"role": "system", "content": "  "}, PIRATE[1]]):
        prompt = chat_prompt(tokenizer, messages)
        assert prompt.text == f"{BOS}<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n"
        assert (prompt.system, prompt.notice) == (None, None)


def test_no_chat_template_falls_back_to_a_transcript_with_a_notice():
    tokenizer = with_template(None)
    prompt = chat_prompt(tokenizer, PIRATE)
    assert prompt.text == "System: Talk like a pirate.\n\nUser: Hi there\n\nAssistant:"
    assert not prompt.templated
    assert prompt.system == prompts.TRANSCRIPT
    assert prompt.notice == prompts.NO_TEMPLATE_NOTICE
    assert "no chat template" in prompt.notice
    assert_ids_match(tokenizer, prompt, add_special_tokens=True)
    # the notice is there without a system prompt too: the whole chat is a plain transcript
    assert chat_prompt(tokenizer, [PIRATE[1]]).notice == prompts.NO_TEMPLATE_NOTICE


def test_the_chat_view_notice_for_each_case():
    assert system_notice(with_template(GEMMA2), "Talk like a pirate.").startswith(
        "this model's chat template refuses a system message (“System role not supported”)"
    )
    assert system_notice(with_template(GEMMA3), "Talk like a pirate.") == prompts.MERGED_NOTICE
    assert system_notice(with_template(IGNORES_SYSTEM), "x") == prompts.DROPPED_NOTICE
    assert system_notice(with_template(LLAMA3), "Talk like a pirate.") is None
    assert system_notice(with_template(GEMMA2), "") is None  # nothing to merge
    assert system_notice(with_template(None), "") == prompts.NO_TEMPLATE_NOTICE


def test_a_conversation_the_template_refuses_is_a_prompt_error():
    tokenizer = with_template(GEMMA2)
    two_users = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    with pytest.raises(PromptError, match="roles must alternate"):
        chat_prompt(tokenizer, two_users)


def test_the_token_a_template_closes_a_turn_with_ends_a_reply():
    assert template_end_of_turn_ids(with_template(smol_tokenizer().chat_template)) == {2}  # <|im_end|>
    closes_with_endoftext = IGNORES_SYSTEM.replace("<|im_end|>", "<|endoftext|>")
    assert template_end_of_turn_ids(with_template(closes_with_endoftext)) == {0}
    assert template_end_of_turn_ids(with_template(LLAMA3)) == set()  # <|eot_id|>: not in this vocabulary
    assert template_end_of_turn_ids(with_template(None)) == set()


# --- Llama 3: several end-of-turn ids ---------------------------------------------------

# stand-ins in SmolLM2's vocabulary for <|eot_id|>, <|eom_id|> and <|end_of_text|>
LLAMA3_STYLE_EOS = [2, 0, 3]


@pytest.fixture(scope="module")
def llama3_style(tmp_path_factory):
    """The tiny model loaded from a folder whose generation_config.json lists three eos ids."""
    from workbench.engine.loading import load_model
    from workbench.engine.settings import LoadSettings

    folder = save_tiny_folder(tmp_path_factory.mktemp("llama3-eos"))
    config_file = folder / "generation_config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    config["eos_token_id"] = LLAMA3_STYLE_EOS
    config_file.write_text(json.dumps(config))
    return load_model(LoadSettings(model=str(folder), device="cpu", dtype="float32"))


def test_every_id_in_the_generation_configs_list_is_an_end_id(llama3_style):
    assert set(LLAMA3_STYLE_EOS) <= llama3_style.eos_token_ids
    assert llama3_style.model.generation_config.eos_token_id == LLAMA3_STYLE_EOS


@pytest.mark.parametrize("eos_id", LLAMA3_STYLE_EOS)
def test_each_end_id_stops_a_reply_picked_in_step_mode(llama3_style, eos_id):
    from workbench.engine.decoding import Decoder, Generation
    from workbench.engine.sampling import Sampler
    from workbench.engine.settings import SamplingSettings
    from workbench.engine.stepping import Decision, StepChooser

    prompt = chat_prompt(llama3_style.tokenizer, [PIRATE[1]])
    # step mode as the app runs it: paused at each token; the "user" takes the top token
    # twice, then picks the end id
    decisions = [Decision("greedy"), Decision("greedy"), Decision("token", eos_id)]
    chooser = StepChooser(on_waiting=lambda dist: chooser.decide(decisions.pop(0)))
    generation = Generation(
        Decoder(llama3_style, prompt.ids),
        Sampler(SamplingSettings(do_sample=False, max_new_tokens=20)),
        top_k=5,
        chooser=chooser,
        cancel=threading.Event(),
    )
    steps = list(generation)
    assert generation.finish_reason == "eos"
    assert len(steps) == 3 and steps[-1].token_id == eos_id and steps[-1].is_end
    assert not any(step.is_end for step in steps[:-1])
    assert not decisions  # it stopped there: nobody was asked for a fourth token


def test_the_system_prompt_a_template_writes_when_there_is_none():
    assert (
        prompts.template_default_system(with_template(smol_tokenizer().chat_template))
        == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    )
    for template in (LLAMA3, GEMMA2, GEMMA3, None):
        assert prompts.template_default_system(with_template(template)) is None
