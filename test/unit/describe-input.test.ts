/** TaskService.describeInput(): the JSON Schema of a definition's input class (API.md section 5). */
import 'reflect-metadata';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsEnum, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min, ValidateNested } from 'class-validator';
import { JSONSchema } from 'class-validator-jsonschema';
import { memoryStorage, Task, UnknownTaskDefinitionError, type TaskDefinition, type TaskRunParams } from '../../src';
import { startHarness } from '../helpers/engine-harness';

enum Color {
  Red = 'red',
  Blue = 'blue',
}
enum Level {
  Low,
  High,
}

class Tag {
  @IsString() @Length(1, 20) name!: string;
}

class Owner {
  @JSONSchema({ title: 'E-mail' })
  @Matches(/^[^@]+@[^@]+$/)
  email!: string;

  @IsOptional() @ValidateNested() @Type(() => Tag) tag?: Tag;
}

class Input {
  @JSONSchema({ title: 'Count', description: 'how many to import' })
  @IsInt()
  @Min(1)
  @Max(500)
  count!: number;

  // the bounds written above the type: the library alone would say "number"
  @Min(0)
  @Max(10)
  @IsInt()
  retries!: number;

  @IsOptional() @IsEnum(Color) color?: Color;
  @IsOptional() @IsEnum(Level) level?: Level;
  @IsOptional() @IsIn([1, 2, 3]) size?: number;
  @IsOptional() @IsBoolean() dryRun?: boolean;

  @ValidateNested() @Type(() => Owner) owner!: Owner;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(5)
  @ValidateNested({ each: true })
  @Type(() => Tag)
  tags?: Tag[];
}

@Task({ id: 'schema.input', title: 'With input', input: Input })
class WithInput implements TaskDefinition<Input, null> {
  async run({ controller }: TaskRunParams<Input, null>) {
    return controller.response.done(null);
  }
}

@Task({ id: 'schema.none', title: 'Without input' })
class WithoutInput implements TaskDefinition<undefined, null> {
  async run({ controller }: TaskRunParams<undefined, null>) {
    return controller.response.done(null);
  }
}

test('integers, bounds, enums, nested classes, arrays, titles and descriptions', async () => {
  const h = await startHarness({ storage: memoryStorage(), tasks: [WithInput, WithoutInput], start: false });
  const schema = h.service.describeInput('schema.input') as Record<string, any>;
  expect(schema.type).toBe('object');
  expect(schema.additionalProperties).toBe(false);
  expect([...schema.required].sort()).toEqual(['count', 'owner', 'retries']);
  expect(schema.properties.count).toEqual({ type: 'integer', minimum: 1, maximum: 500, title: 'Count', description: 'how many to import' });
  expect(schema.properties.retries).toEqual({ type: 'integer', minimum: 0, maximum: 10 });
  expect(schema.properties.color).toEqual({ type: 'string', enum: ['red', 'blue'] });
  expect(schema.properties.level).toEqual({ type: 'integer', enum: [0, 1] });
  expect(schema.properties.size).toEqual({ type: 'number', enum: [1, 2, 3] });
  expect(schema.properties.dryRun).toEqual({ type: 'boolean' });
  expect(schema.properties.owner).toEqual({ $ref: '#/definitions/Owner' });
  expect(schema.properties.tags).toMatchObject({ type: 'array', maxItems: 5, items: { $ref: '#/definitions/Tag' } });
  expect(schema.definitions.Owner).toMatchObject({
    type: 'object',
    additionalProperties: false,
    required: ['email'],
    properties: { email: { type: 'string', pattern: '^[^@]+@[^@]+$', title: 'E-mail' }, tag: { $ref: '#/definitions/Tag' } },
  });
  expect(schema.definitions.Tag).toEqual({
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: { name: { type: 'string', minLength: 1, maxLength: 20 } },
  });

  expect(h.service.describeInput(WithInput)).toEqual(schema);
  expect(h.service.describeInput('schema.none')).toBeNull();
  expect(() => h.service.describeInput('schema.nope')).toThrow(UnknownTaskDefinitionError);
  // a copy each time: a caller changing it changes nothing
  schema.properties.count.minimum = 99;
  expect((h.service.describeInput('schema.input') as Record<string, any>).properties.count.minimum).toBe(1);
  await h.stop();
});
